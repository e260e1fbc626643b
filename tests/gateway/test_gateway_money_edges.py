"""Issue #20's rows through the gateway over HTTP (official clients), vs calc_price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import httpx
import openai
from genai_prices import Usage, calc_price
from tests.gateway.conftest import Rig

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder, instrument

ONE_HOUR = {
    "x-fake-input-tokens": "9000",
    "x-fake-cache-write-1h-tokens": "8000",
    "x-fake-output-tokens": "500",
}
O3 = {"x-fake-input-tokens": "100000", "x-fake-cached-tokens": "50000", "x-fake-output-tokens": "10000"}
MSG: Any = [{"role": "user", "content": "x"}]


def o3_price(tier: str) -> Decimal:
    usage = Usage(input_tokens=100_000, cache_read_tokens=50_000, output_tokens=10_000)
    context: Any = {"service_tier": tier}
    return calc_price(usage, "o3", provider_id="openai", price_context=context).total_price


def test_one_hour_cache_writes_cost_their_own_rate(rig: Rig) -> None:
    via = rig.closing(anthropic.Anthropic(base_url=rig.url, api_key="sk-ant-x", max_retries=0))
    via.messages.create(model="claude-sonnet-4-5", max_tokens=600, messages=MSG, extra_headers=ONE_HOUR)
    with via.messages.stream(
        model="claude-sonnet-4-5", max_tokens=600, messages=MSG, extra_headers=ONE_HOUR
    ) as stream:
        stream.get_final_message()
    usage = Usage(input_tokens=9000, cache_write_tokens=8000, cache_write_1h_tokens=8000, output_tokens=500)
    want = calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic").total_price
    events = rig.events(2)
    assert [(e["cache_write_1h_tokens"], e["cost_usd"]) for e in events] == [(8000, want)] * 2
    assert want == Decimal("0.0585")  # was $0.0405: 1-hour writes priced at the 5-minute rate


def test_the_tier_the_provider_answered_prices_the_call(rig: Rig) -> None:
    via = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-x", max_retries=0))
    via.chat.completions.create(model="o3", messages=MSG, extra_headers={**O3, "x-fake-service-tier": "flex"})
    stream = via.chat.completions.create(
        model="o3", messages=MSG, stream=True, extra_headers={**O3, "x-fake-service-tier": "priority"}
    )
    assert all(chunk.usage is None for chunk in stream)  # the usage the gateway asked for stays hidden
    events = rig.events(2)
    assert [(e["service_tier"], e["cost_usd"]) for e in events] == [
        ("flex", o3_price("flex")),
        ("priority", o3_price("priority")),
    ]
    assert (o3_price("flex"), o3_price("priority")) == (Decimal("0.1025"), Decimal("0.35875"))  # was $0.205


def test_a_client_that_leaves_does_not_stop_the_reading(rig: Rig) -> None:
    """The gateway reads the upstream to its end after the client left: the cost stays exact."""
    body = {"model": "gpt-4o-mini", "stream": True, "messages": MSG}
    knobs = {"x-fake-input-tokens": "1000", "x-fake-output-tokens": "200", "authorization": "Bearer sk-x"}
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", rig.openai_url + "/chat/completions", json=body, headers=knobs) as response,
    ):
        next(response.iter_raw())  # one chunk, then the client hangs up
    [event] = rig.events()
    usage = Usage(input_tokens=1000, output_tokens=200)
    want = calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price
    assert (event["status"], event["output_tokens"], event["cost_usd"]) == ("success", 200, want)


def test_an_sdk_retry_after_a_429_is_one_call_with_its_retry(rig: Rig) -> None:
    """The SDK sends x-stainless-retry-count: the gateway records one logical call, as the SDK path does."""
    knobs = {
        "x-fake-fail-attempts": "1",
        "x-fake-status": "429",
        "x-fake-input-tokens": "1000",
        "x-fake-output-tokens": "200",
    }
    store = DuckDBStore(":memory:")
    recorder = Recorder(QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05))
    direct = instrument(openai.OpenAI(base_url=rig.fake.openai_base_url, api_key="sk-x"), recorder=recorder)
    via = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-x", max_retries=2))
    with direct:
        direct.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_headers=knobs)
    via.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_headers=knobs)
    assert recorder.flush(10)
    [sdk] = store.query("SELECT * FROM events")
    recorder.close()
    store.close()
    [gateway] = rig.events()  # the 429 attempt is folded into its retry (it was a second event)
    want = calc_price(Usage(input_tokens=1000, output_tokens=200), "gpt-4o-mini", provider_id="openai")
    for event in (sdk, gateway):
        assert (event["status"], event["retry_count"]) == ("success", 1)
        assert event["cost_usd"] == want.total_price
