"""google-genai's ``genai.Client``, instrumented, against the fake provider's Gemini API over real HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import errors, types

from costtrail.sdk import instrument

USAGE = {
    "x-fake-input-tokens": "1200",
    "x-fake-cached-tokens": "1000",
    "x-fake-output-tokens": "300",
    "x-fake-reasoning-tokens": "100",
    "x-fake-tool-use-prompt-tokens": "40",
}
COMPARED = (
    "provider",
    "model",
    "status",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unpriced",
    "cost_estimate_usd",
)


@pytest.fixture
def make_client(fake: Any, ledger: Any) -> Iterator[Callable[..., genai.Client]]:
    made: list[genai.Client] = []

    def make(headers: dict[str, str] | None = None) -> genai.Client:
        options = types.HttpOptions(base_url=fake.base_url, headers=headers or {})
        client = genai.Client(api_key="AIza-test-key", http_options=options)
        made.append(client)
        return instrument(client, recorder=ledger.recorder)

    yield make
    for client in made:
        client.close()


def _seen(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in COMPARED}


def _expected(expected_cost: Any, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    # The fake sent promptTokenCount 1200 (1000 of them cached), toolUsePromptTokenCount 40,
    # candidatesTokenCount 200 and thoughtsTokenCount 100: input 1240, output 300 (100 reasoning).
    cost = expected_cost(
        "google", model, input_tokens=1240, output_tokens=300, cache_read_tokens=1000, reasoning_tokens=100
    )
    return {
        "provider": "google",
        "model": model,
        "status": "success",
        "error_type": None,
        "input_tokens": 1240,
        "output_tokens": 300,
        "cache_read_tokens": 1000,
        "reasoning_tokens": 100,
        "cost_usd": cost,
        "unpriced": False,
        "cost_estimate_usd": None,
    }


def test_sync_streamed_and_whole_calls_give_identical_priced_events(
    ledger, expected_cost, make_client
) -> None:
    client = make_client(USAGE)
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
    assert reply.usage_metadata is not None and reply.usage_metadata.prompt_token_count == 1200
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Where?"))
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    whole, streamed = ledger.events()
    assert _seen(whole) == _seen(streamed) == _expected(expected_cost)
    assert '"endpoint": "generate_content"' in whole["attributes"]


async def test_async_streamed_and_whole_calls_give_identical_priced_events(
    ledger, expected_cost, make_client
) -> None:
    client = make_client(USAGE)
    await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="Where?")
    async for _ in stream:
        pass
    await client.aio.aclose()
    whole, streamed = ledger.events()
    assert _seen(whole) == _seen(streamed) == _expected(expected_cost)


def test_a_prompt_over_200k_tokens_is_priced_at_the_long_context_price(
    ledger, expected_cost, make_client
) -> None:
    headers = {"x-fake-input-tokens": "250000", "x-fake-output-tokens": "2000"}
    client = make_client(headers)
    client.models.generate_content(model="gemini-2.5-pro", contents="the whole contract")
    [event] = ledger.events()
    want = expected_cost("google", "gemini-2.5-pro", input_tokens=250000, output_tokens=2000)
    # gemini-2.5-pro over 200k prompt tokens: $2.50/M in, $15/M out = 0.625 + 0.03
    assert want == Decimal("0.655")
    assert event["cost_usd"] == want


def test_a_cut_stream_is_incomplete_unpriced_with_an_estimate(ledger, make_client) -> None:
    client = make_client({**USAGE, "x-fake-stream-error-after": "2"})
    with pytest.raises(errors.APIError):
        for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Where?"):
            pass
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "UNAVAILABLE")
    assert event["unpriced"] and event["cost_usd"] is None
    assert event["cost_estimate_usd"] is not None and event["cost_estimate_usd"] > 0


def test_an_http_error_is_recorded_as_an_error(ledger, make_client) -> None:
    client = make_client({"x-fake-status": "429"})
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model="gemini-2.5-flash", contents="Where?")
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("error", "RESOURCE_EXHAUSTED")
    assert event["input_tokens"] == event["output_tokens"] == 0  # a refused call reports no usage


def test_embeddings_have_no_usage_on_the_gemini_api_so_they_are_estimated(ledger, make_client) -> None:
    client = make_client()
    result = client.models.embed_content(model="gemini-embedding-001", contents=["refund policy", "returns"])
    assert result.embeddings is not None and len(result.embeddings) == 2
    [event] = ledger.events()
    assert (event["kind"], event["model"]) == ("embedding", "gemini-embedding-001")
    assert (event["status"], event["error_type"]) == ("incomplete", "no_usage")
    assert event["cost_usd"] is None and event["cost_estimate_usd"] > 0


def test_the_api_key_is_never_recorded(fake, ledger, make_client) -> None:
    client = make_client(USAGE)
    client.models.generate_content(model="gemini-2.5-flash", contents="Where?")
    [event] = ledger.events()
    assert "AIza-test-key" not in repr(event)
    assert "x-goog-api-key" not in fake.requests.last().headers


def test_instrument_is_idempotent(ledger, make_client) -> None:
    client = make_client(USAGE)
    instrument(client, recorder=ledger.recorder)
    client.models.generate_content(model="gemini-2.5-flash", contents="Where?")
    assert len(ledger.events()) == 1


def test_grounding_with_google_search_is_priced_as_a_web_search_fee(
    fake, ledger, expected_cost, make_client
) -> None:
    grounded = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Spain won Euro 2024."}], "role": "model"},
                "finishReason": "STOP",
                "groundingMetadata": {
                    "webSearchQueries": ["euro 2024 winner", "euro 2024 final score"],
                    "groundingChunks": [{"web": {"uri": "https://example.org/euro", "title": "Euro 2024"}}],
                },
            }
        ],
        "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100, "totalTokenCount": 1100},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "g-1",
    }
    fake.replay(
        "gemini-grounded",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json.dumps(grounded).encode(),
        content_type="application/json",
    )
    client = make_client({"x-fake-replay": "gemini-grounded"})
    client.models.generate_content(model="gemini-2.5-flash", contents="Who won Euro 2024?")
    [event] = ledger.events()
    # Gemini 2.5 bills one grounded prompt however many queries: $35 per 1,000 in genai-prices.
    assert event["web_searches"] == 1
    want = expected_cost("google", "gemini-2.5-flash", input_tokens=1000, output_tokens=100, web_searches=1)
    assert want == Decimal("0.03555")  # 1000 x $0.30/M + 100 x $2.50/M + 1 x $35/1000
    assert event["cost_usd"] == want


def test_a_call_carries_the_run_it_started_in_and_the_time_it_took(ledger, make_client) -> None:
    client = make_client(USAGE)
    with ledger.recorder.run("support_reply", customer_id="c-9"), ledger.recorder.step("draft"):
        client.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
    client.models.generate_content(model="gemini-2.5-flash", contents="And now?")  # outside the run
    inside, outside = ledger.events()
    assert (inside["workflow"], inside["customer_id"], inside["step"]) == ("support_reply", "c-9", "draft")
    assert (outside["workflow"], outside["customer_id"]) == (None, None)
    assert inside["environment"] == outside["environment"] == "test"  # the recorder's defaults
    assert 0 < inside["latency_ms"] < 10_000 and inside["payload_bytes"] > 0


def test_a_request_no_server_answers_is_recorded_and_its_error_reaches_the_app(ledger) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    options = types.HttpOptions(base_url=f"http://127.0.0.1:{port}")
    client = instrument(genai.Client(api_key="AIza-test-key", http_options=options), recorder=ledger.recorder)
    with pytest.raises(Exception) as raised:  # httpx's (or httpx2's) ConnectError, as google-genai sends
        client.models.generate_content(model="gemini-2.5-flash", contents="Where?")
    assert type(raised.value).__name__ == "ConnectError"
    [event] = ledger.events()
    assert (event["provider"], event["model"]) == ("google", "gemini-2.5-flash")
    assert (event["status"], event["error_type"]) == ("error", "ConnectError")
    assert event["input_tokens"] == event["output_tokens"] == 0
    client.close()


def test_a_gemini_request_sent_during_an_openai_call_is_its_own_call(fake, ledger, make_client) -> None:
    gemini = make_client(USAGE)

    def ask_gemini_too(request: Any) -> None:  # an app's request hook on its OpenAI HTTP client
        gemini.models.generate_content(model="gemini-2.5-flash", contents="Where?")

    with httpx.Client(event_hooks={"request": [ask_gemini_too]}) as http:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", http_client=http)
        instrument(client, recorder=ledger.recorder)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    events = ledger.events()
    assert sorted((e["provider"], e["model"], e["retry_count"]) for e in events) == [
        ("google", "gemini-2.5-flash", 0),
        ("openai", "gpt-4o-mini", 0),
    ]
