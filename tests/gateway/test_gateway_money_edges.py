"""Issue #20's rows through the gateway over HTTP (official clients), vs calc_price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import openai
from genai_prices import Usage, calc_price
from tests.gateway.conftest import Rig

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
