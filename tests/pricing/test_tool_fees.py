"""Tool fees: web searches, file searches and code executions priced per use, beside the tokens.

genai-prices prices web searches (OpenAI, Anthropic: $10 per 1,000) and OpenAI file searches
(``storage_searches``: $2.50 per 1,000); no model has a code-execution price there, so that fee
comes from the rate card's ``tools`` section, else the call is unpriced (never a silent $0).
Each expectation is calc_price's, or a literal with its arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from genai_prices import Usage, calc_price

from costtrail.ledger.columnar import events_to_arrow
from costtrail.pricing import Pricer, RateCard
from costtrail.schema import Event

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
TOKENS = {"input_tokens": 12_000, "output_tokens": 900}


def _event(provider: str, model: str, **fees: int) -> Event:
    return Event(provider=provider, model=model, started_at=NOW, **TOKENS, **fees)


def _both(pricer: Pricer, event: Event) -> Decimal | None:
    """The per-event price, checked equal to the bulk (Arrow) path's."""
    single = pricer.price(event)
    bulk = pricer.price_table(events_to_arrow([event])).column("cost_usd")[0].as_py()
    assert bulk == single.cost_usd
    return single.cost_usd


def _genai(provider: str, model: str, **usage: int) -> Decimal:
    return calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=NOW).total_price


def test_a_web_search_is_priced_as_its_own_component_at_genai_prices_figure() -> None:
    pricer = Pricer()
    with_search = _both(pricer, _event("openai", "gpt-4o", web_searches=1))
    tokens_only = _both(pricer, _event("openai", "gpt-4o"))
    assert with_search == _genai("openai", "gpt-4o", web_searches=1, **TOKENS)
    assert tokens_only is not None and with_search is not None
    component = with_search - tokens_only
    assert component == _genai("openai", "gpt-4o", web_searches=1) == Decimal("0.01")  # $10 / 1,000
    parts = pricer.components(_event("openai", "gpt-4o", web_searches=1))
    assert parts == {"model": tokens_only, "web_searches": _genai("openai", "gpt-4o", web_searches=1)}


def test_anthropic_web_searches_and_openai_file_searches_at_genai_prices() -> None:
    pricer = Pricer()
    sonnet = _both(pricer, _event("anthropic", "claude-sonnet-4-5", web_searches=3))
    assert sonnet == _genai("anthropic", "claude-sonnet-4-5", web_searches=3, **TOKENS)
    files = _both(pricer, _event("openai", "gpt-4.1", file_searches=2))
    assert files == _genai("openai", "gpt-4.1", storage_searches=2, **TOKENS)
    assert files - _genai("openai", "gpt-4.1", **TOKENS) == Decimal("0.005")  # 2 x $2.50 / 1,000


def test_a_tool_use_nothing_prices_leaves_the_call_unpriced() -> None:
    price = Pricer().price(_event("anthropic", "claude-sonnet-4-5", code_executions=1))
    assert price.unpriced and price.cost_usd is None
    assert "code_executions" in (price.reason or "") and "tool_name: code_execution" in (price.reason or "")


def test_the_rate_cards_tools_entry_prices_what_genai_prices_lacks() -> None:
    card = RateCard.from_yaml(
        "version: v1\ntools:\n"
        "  - {id: sandbox, provider: anthropic, tool_name: code_execution, usd_per_call: 0.05}\n"
        "  - {id: search-deal, tool_name: web_search, usd_per_call: 0.001}\n"
    )
    pricer = Pricer(card)
    cost = _both(pricer, _event("anthropic", "claude-sonnet-4-5", code_executions=2, web_searches=1))
    # genai-prices' tokens and its own web-search price ($10 / 1,000: it has one, so it is used),
    # plus 2 code executions x $0.05 from the rate card.
    assert cost == _genai("anthropic", "claude-sonnet-4-5", web_searches=1, **TOKENS) + Decimal("0.10")
    parts = pricer.components(_event("anthropic", "claude-sonnet-4-5", code_executions=2, web_searches=1))
    assert parts["code_executions"] == Decimal("0.10") and parts["web_searches"] == Decimal("0.01")
    assert sum(parts.values()) == cost


def test_a_rate_card_model_price_for_web_searches_wins() -> None:
    card = RateCard.from_yaml(
        "version: v1\nmodels:\n"
        "  - {id: own, provider: openai, model: gpt-4o, prices: {input_mtok: 2, output_mtok: 8, "
        "web_searches_kcount: 5}}\n"
    )
    cost = _both(Pricer(card), _event("openai", "gpt-4o", web_searches=4))
    # 12,000 x $2/M + 900 x $8/M + 4 x $5/1,000 = 0.024 + 0.0072 + 0.02
    assert cost == Decimal("0.0512")
