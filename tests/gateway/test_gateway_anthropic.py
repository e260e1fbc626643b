"""The official anthropic SDK through the gateway: Messages, streaming, tools, cache and thinking tokens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
from tests.gateway.conftest import Rig, masked
from tests.prices import genai_price

MODEL = "claude-3-5-sonnet-20241022"
MSG: Any = [{"role": "user", "content": "Summarise ticket 9"}]
KNOBS = {"x-fake-input-tokens": "5000", "x-fake-cached-tokens": "3000", "x-fake-cache-write-tokens": "1000"}


def clients(rig: Rig) -> tuple[anthropic.Anthropic, anthropic.Anthropic]:
    direct = rig.closing(
        anthropic.Anthropic(base_url=rig.fake.base_url, api_key="sk-ant-secret-1", max_retries=0)
    )
    via = rig.closing(anthropic.Anthropic(base_url=rig.url, api_key="sk-ant-secret-1", max_retries=0))
    return direct, via


def cost_of(usage: Any) -> Decimal:
    """The envelope's convention: input inclusive of cache reads and writes (Anthropic reports them apart)."""
    return genai_price(
        "anthropic",
        MODEL,
        input_tokens=usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
    )


def test_messages_identical_and_priced_with_cache_tokens(rig: Rig) -> None:
    direct, via = clients(rig)
    want = direct.messages.create(model=MODEL, max_tokens=300, messages=MSG, extra_headers=KNOBS)
    raw = via.messages.with_raw_response.create(
        model=MODEL, max_tokens=300, messages=MSG, extra_headers=KNOBS
    )
    got = raw.parse()
    assert masked(got.model_dump()) == masked(want.model_dump())
    [event] = rig.events()
    assert (event["input_tokens"], event["cache_read_tokens"], event["cache_write_tokens"]) == (
        5000,
        3000,
        1000,
    )
    assert event["cost_usd"] == cost_of(got.usage) == Decimal(raw.headers["x-costtrail-cost"])
    # 1000 fresh at $3/M, 3000 read at $0.30/M, 1000 written at $3.75/M, output at $15/M
    assert event["cost_usd"] == (
        Decimal(3000) + Decimal(900) + Decimal(3750) + Decimal(got.usage.output_tokens) * 15
    ) / Decimal(1_000_000)
    assert event["request_id"] == got.id


def test_streaming_with_tools_and_thinking(rig: Rig) -> None:
    direct, via = clients(rig)
    tools: Any = [
        {"name": "lookup", "description": "find", "input_schema": {"type": "object", "properties": {}}}
    ]
    knobs = {
        **KNOBS,
        "x-fake-tool-calls": "1",
        "x-fake-reasoning-tokens": "64",
        "x-fake-output-tokens": "200",
    }
    with direct.messages.stream(
        model=MODEL, max_tokens=400, messages=MSG, tools=tools, extra_headers=knobs
    ) as s:
        want = s.get_final_message()
    with via.messages.stream(
        model=MODEL, max_tokens=400, messages=MSG, tools=tools, extra_headers=knobs
    ) as s:
        got_events = [masked(e.model_dump()) for e in s]
        got = s.get_final_message()
    assert masked(got.model_dump()) == masked(want.model_dump())
    assert got_events[0]["type"] == "message_start"
    [event] = rig.events()
    assert (event["tool_calls"], event["output_tokens"], event["reasoning_tokens"]) == (1, 200, 64)
    assert event["cost_usd"] == cost_of(got.usage)


async def test_async_messages(rig: Rig) -> None:
    via = anthropic.AsyncAnthropic(base_url=rig.url, api_key="sk-ant-x", max_retries=0)
    got = await via.messages.create(model=MODEL, max_tokens=50, messages=MSG)
    stream = await via.messages.create(model=MODEL, max_tokens=50, messages=MSG, stream=True)
    kinds = [e.type async for e in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    events = rig.events(2)
    assert [e["cost_usd"] for e in events] == [cost_of(got.usage)] * 2
    await via.close()
