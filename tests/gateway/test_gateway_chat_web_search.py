"""Chat completions with ``web_search_options``: a search model searches once a call, a tool fee.

genai-prices 0.2.3 has no web-search price for the search-preview chat models, so the fee comes
from the rate card's ``tools`` entry; without one the call is unpriced (never a silent $0). The
official openai client, through the SDK and through the gateway, gives the same event.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
from tests.gateway.conftest import MakeRig
from tests.prices import genai_price

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer, RateCard
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder, instrument

MODEL = "gpt-4o-search-preview"
USAGE = {"x-fake-input-tokens": "1200", "x-fake-output-tokens": "300"}
MESSAGES = [{"role": "user", "content": "What is new in FOCUS 1.3?"}]
CARD = RateCard.from_yaml(
    "version: v1\ntools:\n  - {id: search, tool_name: web_search, usd_per_call: 0.025}\n"
)


def _ask(client: openai.OpenAI, **extra: Any) -> str | None:
    """Make the call; the gateway's own price of it (``X-Costtrail-Cost``), when through the gateway."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, extra_headers=USAGE, **extra
    )
    return raw.headers.get("x-costtrail-cost")


def test_chat_web_search_is_a_fee_through_the_gateway(make_rig: MakeRig) -> None:
    rig = make_rig(pricer=Pricer(CARD), sink_prices=False)  # the ledger keeps the gateway's prices
    client = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-test", max_retries=0))
    searched_cost = _ask(client, web_search_options={"search_context_size": "low"})
    plain_cost = _ask(client)
    searched, plain = rig.events(2)
    tokens = genai_price("openai", MODEL, input_tokens=1200, output_tokens=300)
    assert (searched["web_searches"], plain["web_searches"]) == (1, 0)
    assert Decimal(str(searched_cost)) == tokens + Decimal("0.025")  # one search x the card's $0.025
    assert Decimal(str(plain_cost)) == tokens
    # The price reference names the rate card's tools entry that priced the search, and only then.
    assert searched["price_ref"] == f"{plain['price_ref']}+rate-card@v1/search"
    assert "rate-card" not in plain["price_ref"]


def test_chat_web_search_through_the_sdk_is_unpriced_without_a_price(fake: Any) -> None:
    store = DuckDBStore(":memory:")
    recorder = Recorder(QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05))
    try:
        with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0) as client:
            instrument(client, recorder=recorder)
            _ask(client, web_search_options={})
        assert recorder.flush(10)
        [event] = store.query("SELECT * FROM events")
    finally:
        recorder.close()
        store.close()
    assert (event["web_searches"], event["status"]) == (1, "success")
    assert event["unpriced"] and event["cost_usd"] is None
