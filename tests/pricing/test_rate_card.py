"""The user's rate card: discounts, private models, GPU time, retrieval and tool prices, fees, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from costtrail.ledger.columnar import events_to_arrow
from costtrail.pricing import Pricer, RateCard, RateCardError
from costtrail.schema import Event

CARD = """\
version: acme-2025-06
models:
  - id: support-ft
    provider: openai
    model: "ft:gpt-4o-mini:acme:*"
    prices: {input_mtok: 0.30, output_mtok: 1.20, cache_read_mtok: 0.15}
  - id: sonnet-contract
    provider: anthropic
    model: "claude-sonnet-4-*"
    discount_percent: 12.5
    valid_from: 2025-06-01
  - id: gateway-fee
    provider: openai
    model: gpt-4o-mini
    request_fee_usd: 0.0005
  - id: llama-onprem
    model: llama-3.1-70b-onprem
    gpu_time: true
    request_fee_usd: 0.0001
gpus:
  - {gpu_type: a100-80gb, usd_per_hour: 2.21}
  - {id: h100-spot, gpu_type: h100, usd_per_hour: 3.60}
retrieval:
  - {id: pinecone, provider: pinecone, usd_per_1k_queries: 0.40}
tools:
  - {id: web-search, tool_name: web_search, usd_per_call: 0.01}
"""
JUNE = datetime(2025, 6, 15, 12, tzinfo=UTC)


@pytest.fixture
def pricer() -> Pricer:
    return Pricer(rate_card=RateCard.from_yaml(CARD, source="rates.yaml"))


def _both(pricer: Pricer, event: Event) -> tuple[Decimal | None, str | None]:
    """Price one event on both paths, check they agree, return (cost, price_ref)."""
    single = pricer.price(event)
    row = pricer.price_table(events_to_arrow([event])).to_pylist()[0]
    expected = None if single.cost_usd is None else single.cost_usd.quantize(Decimal("1e-12"))
    assert row["cost_usd"] == expected
    assert row["unpriced"] is single.unpriced
    assert row["price_ref"] == single.price_ref
    return single.cost_usd, single.price_ref


def _list_price(model: str, provider: str, when: datetime, **usage: int) -> Decimal:
    return calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=when).total_price


def test_private_fine_tuned_model_priced_from_explicit_prices(pricer: Pricer) -> None:
    e = Event(
        provider="openai",
        model="ft:gpt-4o-mini:acme:support:9x2",
        input_tokens=2_000_000,
        cache_read_tokens=1_000_000,
        output_tokens=500_000,
        started_at=JUNE,
    )
    cost, ref = _both(pricer, e)
    # 1M uncached input x 0.30 + 1M cached x 0.15 + 0.5M output x 1.20
    assert cost == Decimal("1.05")
    assert ref == "rate-card@acme-2025-06/support-ft"


def test_negotiated_discount_applies_from_its_start_date(pricer: Pricer) -> None:
    usage = {"input_tokens": 120_000, "output_tokens": 3_000, "cache_read_tokens": 20_000}
    before = datetime(2025, 5, 31, 23, 59, tzinfo=UTC)
    list_june = _list_price("claude-sonnet-4-5", "anthropic", JUNE, **usage)
    list_may = _list_price("claude-sonnet-4-5", "anthropic", before, **usage)
    cost, ref = _both(
        pricer, Event(provider="anthropic", model="claude-sonnet-4-5", started_at=JUNE, **usage)
    )
    assert cost == list_june * Decimal("0.875")
    assert ref == "rate-card@acme-2025-06/sonnet-contract+genai-prices@0.2.3/anthropic/claude-sonnet-4-5"
    cost, ref = _both(
        pricer, Event(provider="anthropic", model="claude-sonnet-4-5", started_at=before, **usage)
    )
    assert cost == list_may
    assert ref == "genai-prices@0.2.3/anthropic/claude-sonnet-4-5"


def test_per_request_fee_is_added_to_the_list_price(pricer: Pricer) -> None:
    usage = {"input_tokens": 1_000, "output_tokens": 100}
    e = Event(provider="openai", model="gpt-4o-mini", request_count=3, started_at=JUNE, **usage)
    cost, ref = _both(pricer, e)
    assert cost == _list_price("gpt-4o-mini", "openai", JUNE, **usage) + 3 * Decimal("0.0005")
    assert ref is not None and ref.startswith("rate-card@acme-2025-06/gateway-fee+genai-prices@")


def test_self_hosted_model_priced_by_gpu_time(pricer: Pricer) -> None:
    e = Event(
        model="llama-3.1-70b-onprem",
        provider="self",
        input_tokens=5_000,
        output_tokens=800,
        compute_seconds=Decimal("90"),
        gpu_type="a100-80gb",
        started_at=JUNE,
    )
    cost, ref = _both(pricer, e)
    assert cost == Decimal("90") * Decimal("2.21") / 3600 + Decimal("0.0001")  # 0.05525 + fee
    assert ref == "rate-card@acme-2025-06/llama-onprem/gpus/a100-80gb"
    no_gpu = e.model_copy(update={"gpu_type": "t4"})
    assert _both(pricer, no_gpu) == (None, None)


def test_infra_gpu_hours_rounded_to_the_ledgers_scale(pricer: Pricer) -> None:
    e = Event(kind="infra", compute_seconds=Decimal("1"), gpu_type="h100", started_at=JUNE)
    cost, ref = _both(pricer, e)
    assert cost == Decimal("0.001")  # 3.60 / 3600
    assert ref == "rate-card@acme-2025-06/gpus/h100-spot"
    odd = e.model_copy(update={"compute_seconds": Decimal("7")})
    assert _both(pricer, odd)[0] == (Decimal(7) * Decimal("3.60") / 3600).quantize(Decimal("1e-12"))


def test_retrieval_per_thousand_queries_and_tool_calls(pricer: Pricer) -> None:
    search = Event(kind="retrieval", provider="pinecone", query_count=250, started_at=JUNE)
    assert _both(pricer, search) == (Decimal("0.1"), "rate-card@acme-2025-06/pinecone")
    one = Event(kind="retrieval", provider="pinecone", started_at=JUNE)
    assert _both(pricer, one)[0] == Decimal("0.0004")  # an event without query_count is one query
    tool = Event(kind="tool", tool_name="web_search", request_count=2, started_at=JUNE)
    assert _both(pricer, tool) == (Decimal("0.02"), "rate-card@acme-2025-06/web-search")


def test_without_a_rate_card_entry_retrieval_tool_and_infra_are_unpriced(pricer: Pricer) -> None:
    for e in (
        Event(kind="retrieval", provider="weaviate", query_count=10),
        Event(kind="tool", tool_name="calculator"),
        Event(kind="infra", compute_seconds=Decimal(5), gpu_type="tpu-v5"),
    ):
        for p in (pricer, Pricer()):
            got = p.price(e)
            assert got.unpriced and got.cost_usd is None and got.reason
            assert _both(p, e) == (None, None)


def test_a_reported_cost_is_kept(pricer: Pricer) -> None:
    e = Event(kind="tool", tool_name="calculator", estimated_cost_usd="0.0042")
    [applied] = pricer.apply([e.model_copy()])
    assert (applied.cost_usd, applied.cost_source, applied.unpriced) == (Decimal("0.0042"), "reported", False)
    row = pricer.price_table(events_to_arrow([e])).to_pylist()[0]
    assert (row["cost_usd"], row["cost_source"], row["unpriced"]) == (Decimal("0.0042"), "reported", False)


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text(CARD)
    card = RateCard.load(path)
    assert card.version == "acme-2025-06" and len(card.models) == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: v1\nmodels:\n  - id: ft\n    model: x\n    prices: {input_mtok: 1}\n    discount: 10\n",
            ["rates.yaml:6", "models[0] (id 'ft').discount", "Extra inputs are not permitted"],
        ),
        (
            "version: v1\nmodels:\n  - model: x\n    prices: {input_mtokens: 1}\n",
            ["rates.yaml:4", "models[0].prices", "unknown price key input_mtokens"],
        ),
        (
            "version: v1\nmodels:\n  - {id: deal, model: 'gpt-*', discount_percent: 120}\n",
            ["rates.yaml:3", "models[0] (id 'deal').discount_percent", "less than or equal to 100"],
        ),
        (
            "version: v1\ngpus:\n"
            "  - {gpu_type: a, usd_per_hour: 2, valid_from: 2025-02-01, valid_to: 2025-01-01}\n",
            ["gpus[0]", "valid_to must be after valid_from"],
        ),
        ("models: []\n", ["version", "Field required"]),
        ("version: v1\nmodels: [\n", ["rates.yaml: not valid YAML"]),
        (
            "version: v1\ntools:\n  - {tool_name: search, usd_per_call: -1}\n",
            ["rates.yaml:3", "tools[0].usd_per_call", "greater than or equal to 0"],
        ),
    ],
)
def test_bad_rate_card_errors_name_file_line_entry_and_field(text: str, expected: list[str]) -> None:
    with pytest.raises(RateCardError) as info:
        RateCard.from_yaml(text, source="rates.yaml")
    message = str(info.value)
    for part in expected:
        assert part in message, message


REGIONAL_CARD = """
version: aws-regions-1
models:
  - id: bedrock-eu-central
    provider: aws
    model: "eu.anthropic.claude-sonnet-4-5*"
    region: "eu-central-*"
    prices: {input_mtok: 3.63, output_mtok: 18.15}
"""


def test_a_regional_rate_card_entry_prices_only_its_region_on_both_paths() -> None:
    pricer = Pricer(rate_card=RateCard.from_yaml(REGIONAL_CARD))
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    events = [
        Event(provider="aws", model=model, region=region, input_tokens=1000, output_tokens=200)
        for region in ("eu-central-1", "eu-west-1", None)
    ]
    frankfurt, ireland, nowhere = (pricer.price(e) for e in events)
    # 1000 x $3.63/M + 200 x $18.15/M = 0.00363 + 0.00363
    assert frankfurt.cost_usd == Decimal("0.00726")
    assert frankfurt.price_ref == "rate-card@aws-regions-1/bedrock-eu-central"
    # Elsewhere genai-prices' eu. profile price: 1000 x $3.30/M + 200 x $16.50/M
    assert ireland.cost_usd == nowhere.cost_usd == Decimal("0.0066")
    assert "/aws/regional.anthropic.claude-sonnet-4-5" in str(ireland.price_ref)
    rows = pricer.price_table(events_to_arrow(events)).select(["cost_usd", "price_ref"]).to_pylist()
    assert [(r["cost_usd"], r["price_ref"]) for r in rows] == [
        (p.cost_usd, p.price_ref) for p in (frankfurt, ireland, nowhere)
    ]


def test_a_region_entry_is_named_in_a_bad_card_error() -> None:
    with pytest.raises(RateCardError, match="region"):
        RateCard.from_yaml("version: v\nmodels: [{model: m, region: 3, prices: {input_mtok: 1}}]")
