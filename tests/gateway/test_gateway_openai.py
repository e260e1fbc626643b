"""The official openai SDK through the gateway: same answers as direct, one exactly priced event each."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest
from tests.gateway.conftest import Rig, masked
from tests.prices import genai_price

MSG = [{"role": "user", "content": "Where is order 42?"}]
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
]
USAGE_KNOBS = {
    "x-fake-input-tokens": "3000",
    "x-fake-cached-tokens": "2048",
    "x-fake-output-tokens": "500",
    "x-fake-reasoning-tokens": "200",
}


def clients(rig: Rig) -> tuple[openai.OpenAI, openai.OpenAI]:
    direct = rig.closing(
        openai.OpenAI(base_url=rig.fake.openai_base_url, api_key="sk-test-secret-123", max_retries=0)
    )
    via = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-test-secret-123", max_retries=0))
    return direct, via


def expected_cost(kind: str, model: str, usage: Any) -> Decimal:
    u = usage.model_dump()
    details = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    out = u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    return genai_price(
        "openai",
        model,
        input_tokens=u.get("prompt_tokens", u.get("input_tokens")),
        output_tokens=u.get("completion_tokens", u.get("output_tokens")) or 0,
        cache_read_tokens=details.get("cached_tokens") or 0,
        reasoning_tokens=out.get("reasoning_tokens") or 0,
    )


def test_chat_non_streaming_identical_and_priced(rig: Rig) -> None:
    direct, via = clients(rig)
    want = direct.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_headers=USAGE_KNOBS)  # type: ignore[arg-type]
    raw = via.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MSG, extra_headers=USAGE_KNOBS
    )  # type: ignore[arg-type]
    got = raw.parse()
    assert masked(got.model_dump()) == masked(want.model_dump())
    [event] = rig.events()
    cost = expected_cost("llm", "gpt-4o-mini", got.usage)
    assert event["cost_usd"] == cost
    # 952 fresh input at $0.15/M, 2048 cached at $0.075/M, 500 output at $0.60/M
    assert cost == Decimal("0.0005964")
    assert Decimal(raw.headers["x-costtrail-cost"]) == cost
    assert raw.headers["x-costtrail-event-id"] == event["event_uuid"].hex
    assert (
        event["input_tokens"],
        event["cache_read_tokens"],
        event["output_tokens"],
        event["reasoning_tokens"],
    ) == (
        3000,
        2048,
        500,
        200,
    )
    assert event["request_id"] == got.id
    assert event["status"] == "success"


def test_stream_without_include_usage_looks_direct_but_is_priced(rig: Rig) -> None:
    direct, via = clients(rig)
    want = [
        masked(c.model_dump())
        for c in direct.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    ]  # type: ignore[arg-type]
    stream = via.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSG, stream=True)  # type: ignore[arg-type]
    event_id = stream.headers["x-costtrail-event-id"]
    got = [masked(c.model_dump()) for c in stream.parse()]
    assert got == want
    assert all(c["choices"] for c in got)  # no extra usage chunk reached the client
    assert rig.fake.requests.last("/v1/chat/completions").body["stream_options"] == {"include_usage": True}
    plain = direct.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    [event] = rig.events()
    assert event["event_uuid"].hex == event_id
    assert (event["input_tokens"], event["output_tokens"]) == (
        plain.usage.prompt_tokens,
        plain.usage.completion_tokens,
    )  # type: ignore[union-attr]
    assert event["cost_usd"] == expected_cost("llm", "gpt-4o-mini", plain.usage)


def test_stream_with_include_usage_keeps_the_usage_chunk(rig: Rig) -> None:
    direct, via = clients(rig)
    kwargs: Any = {
        "model": "gpt-4o-mini",
        "messages": MSG,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    want = [masked(c.model_dump()) for c in direct.chat.completions.create(**kwargs)]
    got_chunks = list(via.chat.completions.create(**kwargs))
    assert [masked(c.model_dump()) for c in got_chunks] == want
    usage = got_chunks[-1].usage
    assert usage is not None
    [event] = rig.events()
    assert event["cost_usd"] == expected_cost("llm", "gpt-4o-mini", usage)


async def test_async_tool_calls(rig: Rig) -> None:
    direct = openai.AsyncOpenAI(base_url=rig.fake.openai_base_url, api_key="sk-test", max_retries=0)
    via = openai.AsyncOpenAI(base_url=rig.openai_url, api_key="sk-test", max_retries=0)
    knobs = {"x-fake-tool-calls": "2"}
    want = await direct.chat.completions.create(
        model="gpt-4o", messages=MSG, tools=TOOLS, extra_headers=knobs
    )  # type: ignore[arg-type]
    got = await via.chat.completions.create(model="gpt-4o", messages=MSG, tools=TOOLS, extra_headers=knobs)  # type: ignore[arg-type]
    assert masked(got.model_dump()) == masked(want.model_dump())
    assert len(got.choices[0].message.tool_calls or ()) == 2
    stream = await via.chat.completions.create(
        model="gpt-4o", messages=MSG, tools=TOOLS, extra_headers=knobs, stream=True
    )  # type: ignore[arg-type]
    async for _ in stream:
        pass
    events = rig.events(2)
    assert [e["tool_calls"] for e in events] == [2, 2]
    assert events[0]["cost_usd"] == expected_cost("llm", "gpt-4o", got.usage)
    assert events[1]["cost_usd"] == events[0]["cost_usd"]
    await direct.close()
    await via.close()


def test_embeddings_responses_and_completions(rig: Rig) -> None:
    direct, via = clients(rig)
    emb_want = direct.embeddings.create(model="text-embedding-3-small", input=["order 42", "refund"])
    emb = via.embeddings.create(model="text-embedding-3-small", input=["order 42", "refund"])
    assert emb.model_dump() == emb_want.model_dump()
    resp_want = direct.responses.create(
        model="gpt-4o-mini", input="Summarise order 42", extra_headers=USAGE_KNOBS
    )
    resp = via.responses.create(model="gpt-4o-mini", input="Summarise order 42", extra_headers=USAGE_KNOBS)
    assert masked(resp.model_dump()) == masked(resp_want.model_dump())
    with via.responses.stream(model="gpt-4o-mini", input="Summarise order 42") as stream:
        streamed = stream.get_final_response()
    legacy = via.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=12)
    events = rig.events(4)
    assert [e["kind"] for e in events] == ["embedding", "llm", "llm", "llm"]
    assert events[0]["cost_usd"] == expected_cost("embedding", "text-embedding-3-small", emb.usage)
    assert events[1]["cost_usd"] == expected_cost("llm", "gpt-4o-mini", resp.usage)
    assert events[1]["reasoning_tokens"] == 200
    assert events[2]["cost_usd"] == expected_cost("llm", "gpt-4o-mini", streamed.usage)
    assert events[3]["cost_usd"] == expected_cost("llm", "gpt-3.5-turbo-instruct", legacy.usage)


def test_headers_and_body_attribute_the_call(rig: Rig) -> None:
    _, via = clients(rig)
    headers = {
        "X-Costtrail-Workflow": "support_reply",
        "X-Costtrail-Run-Id": "run-7",
        "X-Costtrail-Step": "draft",
        "X-Costtrail-Agent": "writer",
        "X-Costtrail-Feature": "auto-reply",
        "X-Costtrail-Customer": "cust-1",
        "X-Costtrail-Tenant": "acme",
        "X-Costtrail-Environment": "prod",
        "X-Costtrail-Tags": "release=2026-05,beta",
    }
    via.chat.completions.create(
        model="gpt-4o-mini",
        messages=MSG,  # type: ignore[arg-type]
        user="u-123",
        metadata={"ticket": "T-9", "customer_id": "overridden-by-header"},
        extra_headers=headers,
    )
    [event] = rig.events()
    got = {
        k: event[k] for k in ("workflow", "run_id", "step", "agent", "feature", "customer_id", "tenant_id")
    }
    assert got == {
        "workflow": "support_reply",
        "run_id": "run-7",
        "step": "draft",
        "agent": "writer",
        "feature": "auto-reply",
        "customer_id": "cust-1",
        "tenant_id": "acme",
    }
    assert (event["environment"], event["user_id"]) == ("prod", "u-123")
    assert '"tag.release": "2026-05"' in event["attributes"] and '"tag.beta": "true"' in event["attributes"]
    assert '"metadata.ticket": "T-9"' in event["attributes"]
    # costtrail's headers are not sent to the provider; the provider key is never stored
    assert not any(h.startswith("x-costtrail") for h in rig.fake.requests.last().headers)
    assert "sk-test-secret" not in repr(rig.store.query("SELECT * FROM events"))


def test_upstream_error_passes_through_and_is_recorded(rig: Rig) -> None:
    direct, via = clients(rig)
    knobs = {"x-fake-status": "500"}
    with pytest.raises(openai.InternalServerError) as want:
        direct.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_headers=knobs)  # type: ignore[arg-type]
    with pytest.raises(openai.InternalServerError) as got:
        via.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_headers=knobs)  # type: ignore[arg-type]
    assert got.value.body == want.value.body
    assert got.value.status_code == 500
    [event] = rig.events()
    assert (event["status"], event["error_type"], event["model"]) == ("error", "server_error", "gpt-4o-mini")
    assert event["cost_usd"] == Decimal(0) and not event["unpriced"]
