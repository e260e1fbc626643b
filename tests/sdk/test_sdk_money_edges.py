"""Issue #20's rows through the SDK door (official clients against the fake provider), vs calc_price."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anthropic
import openai
from genai_prices import Usage, calc_price

from costtrail.sdk import instrument

ONE_HOUR = {
    "x-fake-input-tokens": "9000",
    "x-fake-cache-write-1h-tokens": "8000",
    "x-fake-output-tokens": "500",
}
O3 = {"x-fake-input-tokens": "100000", "x-fake-cached-tokens": "50000", "x-fake-output-tokens": "10000"}


def sonnet_1h_price() -> Decimal:
    usage = Usage(input_tokens=9000, cache_write_tokens=8000, cache_write_1h_tokens=8000, output_tokens=500)
    return calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic").total_price


def o3_price(tier: str) -> Decimal:
    usage = Usage(input_tokens=100_000, cache_read_tokens=50_000, output_tokens=10_000)
    context: Any = {"service_tier": tier}
    return calc_price(usage, "o3", provider_id="openai", price_context=context).total_price


def test_one_hour_cache_writes_cost_their_own_rate(fake: Any, ledger: Any) -> None:
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test")
    instrument(client, recorder=ledger.recorder)
    with client:
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=600,
            messages=[{"role": "user", "content": "x"}],
            extra_headers=ONE_HOUR,
        )
    [event] = ledger.events()
    assert (event["cache_write_tokens"], event["cache_write_1h_tokens"]) == (8000, 8000)
    assert event["cost_usd"] == sonnet_1h_price() == Decimal("0.0585")  # was $0.0405 at the 5-minute rate


def test_the_tier_the_provider_answered_prices_the_call(fake: Any, ledger: Any) -> None:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test")
    instrument(client, recorder=ledger.recorder)
    with client:
        for tier in ("flex", "priority"):
            client.chat.completions.create(
                model="o3",
                messages=[{"role": "user", "content": "x"}],
                extra_headers={**O3, "x-fake-service-tier": tier},
            )
    events = ledger.events()
    assert [(e["service_tier"], e["cost_usd"]) for e in events] == [
        ("flex", o3_price("flex")),
        ("priority", o3_price("priority")),
    ]
    assert [o3_price("flex"), o3_price("priority")] == [Decimal("0.1025"), Decimal("0.35875")]


def test_a_stream_abandoned_after_two_chunks_is_incomplete_with_an_estimate(fake: Any, ledger: Any) -> None:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test")
    instrument(client, recorder=ledger.recorder)
    with client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            messages=[{"role": "user", "content": "x" * 40}],
            extra_headers={"x-fake-input-tokens": "1000", "x-fake-output-tokens": "200"},
        )
        for i, _chunk in enumerate(stream):
            if i == 1:
                break
        stream.close()
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "client_abandoned")
    assert event["unpriced"] and event["cost_usd"] is None  # never a $0 success (it was)
    # Input estimated from the request (40 characters / 4), output as seen before the client left.
    assert event["input_tokens"] == 10 and 1 <= event["output_tokens"] < 200
    usage = Usage(input_tokens=10, output_tokens=event["output_tokens"])
    want = calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price
    assert event["cost_estimate_usd"] == want
    assert json.loads(event["attributes"])["usage_estimated"] == "true"
