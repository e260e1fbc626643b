"""google-genai through the gateway's Gemini route: priced, budget-checked, the API key never kept."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from tests.gateway.conftest import MakeRig, Rig, masked
from tests.gateway.test_gateway_controls import DenyOverBudget
from tests.prices import genai_price

KEY = "AIza-secret-gemini-key-7"
USAGE = {
    "x-fake-input-tokens": "1200",
    "x-fake-cached-tokens": "1000",
    "x-fake-output-tokens": "300",
    "x-fake-reasoning-tokens": "100",
    "x-fake-tool-use-prompt-tokens": "40",
}
# promptTokenCount 1200 (1000 cached) + toolUsePromptTokenCount 40 in; 200 candidates + 100 thoughts out.
WANT = {"input_tokens": 1240, "output_tokens": 300, "cache_read_tokens": 1000, "reasoning_tokens": 100}
VOLATILE = {"response_id", "sdk_http_response"}


def _rig(make_rig: MakeRig, fake: Any, **kw: Any) -> Rig:
    upstreams = {"openai": fake.openai_base_url, "anthropic": fake.base_url, "google": fake.base_url}
    return make_rig(upstreams=upstreams, **kw)


def _client(base_url: str, headers: dict[str, str] | None = None) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url, headers=headers or {}))


def _dump(response: Any) -> Any:
    return masked({k: v for k, v in response.model_dump(mode="json").items() if k not in VOLATILE})


def test_whole_and_streamed_calls_are_identical_to_direct_and_priced(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig, fake)
    direct, via = rig.closing(_client(fake.base_url, USAGE)), rig.closing(_client(rig.url, USAGE))
    want = direct.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
    got = via.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
    assert _dump(got) == _dump(want)
    chunks = list(via.models.generate_content_stream(model="gemini-2.5-flash", contents="Where?"))
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.thoughts_token_count == 100
    whole, streamed = rig.events(2)
    cost = genai_price("google", "gemini-2.5-flash", **WANT)
    for event in (whole, streamed):
        assert (event["provider"], event["model"], event["status"]) == (
            "google",
            "gemini-2.5-flash",
            "success",
        )
        assert {k: event[k] for k in WANT} == WANT
        assert event["cost_usd"] == cost
    assert fake.requests.last().path == "/v1/models/gemini-2.5-flash:streamGenerateContent"


async def test_async_calls_and_a_long_prompt_priced_at_its_tier(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig, fake)
    client = _client(rig.url, {"x-fake-input-tokens": "250000", "x-fake-output-tokens": "2000"})
    await client.aio.models.generate_content(model="gemini-2.5-pro", contents="the whole contract")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="again")
    async for _ in stream:
        pass
    await client.aio.aclose()
    client.close()
    events = rig.events(2)
    want = genai_price("google", "gemini-2.5-pro", input_tokens=250000, output_tokens=2000)
    assert want == Decimal("0.655")  # over 200k prompt tokens: 250000 x $2.50/M + 2000 x $15/M
    assert [e["cost_usd"] for e in events] == [want, want]


def test_the_api_key_in_header_or_query_is_forwarded_but_never_stored_or_logged(
    make_rig: MakeRig, fake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # An httpx client of its own (as with an HTTP proxy): httpx logs every URL it sends at INFO.
    rig = _rig(make_rig, fake, client=httpx.AsyncClient())
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    with httpx.Client(base_url=rig.url) as http:
        by_query = http.post(f"/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}", json=body)
        by_header = http.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json=body,
            headers={"x-goog-api-key": KEY},
        )
        keyless = http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body)
    assert (by_query.status_code, by_header.status_code) == (200, 200)  # the fake answers 403 without a key
    assert keyless.status_code == 403 and keyless.json()["error"]["status"] == "PERMISSION_DENIED"
    events = rig.events(3)
    assert [e["status"] for e in events] == ["success", "success", "error"]
    assert KEY not in repr(events)
    # Every log line of the gateway and of its way upstream; the test's own client logs its request.
    logged = [
        r.getMessage()
        for r in caplog.records
        if not r.getMessage().startswith(f"HTTP Request: POST {rig.url}")
    ]
    assert logged and not [line for line in logged if KEY in line]


def test_path_spellings_are_normalized_and_other_methods_refused(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig, fake)
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    headers = {"x-goog-api-key": KEY}
    with httpx.Client(base_url=rig.url, headers=headers) as http:
        folded = http.post("/v1beta//models/gemini-2.5-flash%3AGenerateContent/", json=body)
        other = http.post("/v1beta/models/gemini-2.5-flash:countTokens", json=body)
        dotted = http.post("/v1beta/models/%2E%2E/models/gemini-2.5-flash:generateContent", json=body)
    assert folded.status_code == 200
    assert [line for _, line in fake.requests.lines] == ["/v1beta/models/gemini-2.5-flash:generateContent"]
    assert other.status_code == 404 and other.json()["error"]["status"] == "NOT_FOUND"
    assert dotted.status_code == 400
    [event] = rig.events()
    assert (event["model"], event["status"]) == ("gemini-2.5-flash", "success")


def test_a_spent_budget_refuses_the_call_in_googles_error_shape(make_rig: MakeRig, fake: Any) -> None:
    gate = DenyOverBudget()
    rig = _rig(make_rig, fake, gate=gate)
    client = rig.closing(_client(rig.url, {"X-Costtrail-Tenant": "acme"}))
    config = types.GenerateContentConfig(max_output_tokens=1000)
    with pytest.raises(errors.ClientError) as denied:
        client.models.generate_content(model="gemini-2.5-flash", contents="hello", config=config)
    assert denied.value.code == 429 and denied.value.status == "RESOURCE_EXHAUSTED"
    assert "acme-monthly" in str(denied.value.message)
    ctx, estimate = gate.asked[0]
    assert (ctx.provider, ctx.model) == ("google", "gemini-2.5-flash")
    # The estimate reserves the output cap: 1000 tokens at $2.50/M, plus a few input tokens.
    assert Decimal("0.0025") < estimate < Decimal("0.0026")
    assert len(fake.requests) == 0


def test_a_cut_stream_through_the_gateway_is_incomplete(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig, fake)
    client = rig.closing(_client(rig.url, {**USAGE, "x-fake-stream-error-after": "2"}))
    with pytest.raises(errors.APIError):
        for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Where?"):
            pass
    [event] = rig.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "UNAVAILABLE")
    assert event["cost_usd"] is None and event["cost_estimate_usd"] > 0


def test_a_grounded_answer_through_the_gateway_pays_its_search_fee(make_rig: MakeRig, fake: Any) -> None:
    grounded = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Spain."}], "role": "model"},
                "finishReason": "STOP",
                "groundingMetadata": {"webSearchQueries": ["euro 2024 winner", "euro 2024 final"]},
            }
        ],
        "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100, "totalTokenCount": 1100},
        "modelVersion": "gemini-3-pro-preview",
    }
    fake.replay(
        "grounded-3",
        "/v1beta/models/gemini-3-pro-preview:generateContent",
        json.dumps(grounded).encode(),
        content_type="application/json",
    )
    rig = _rig(make_rig, fake)
    client = rig.closing(_client(rig.url, {"x-fake-replay": "grounded-3"}))
    client.models.generate_content(model="gemini-3-pro-preview", contents="Who won Euro 2024?")
    [event] = rig.events()
    assert event["web_searches"] == 2  # Gemini 3: each search query is billed
    want = genai_price("google", "gemini-3-pro-preview", input_tokens=1000, output_tokens=100, web_searches=2)
    assert event["cost_usd"] == want
