"""An instrumented openai client pointed at Groq's API URL is recorded and priced as Groq.

Groq's server is outside the machine: an httpx transport sends the SDK's
requests for ``https://api.groq.com/openai/v1/...`` to the fake provider's
``/v1/...`` over real HTTP on 127.0.0.1, so the client only knows Groq's URL.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

import costtrail
from costtrail.controls.config import ControlsConfig
from costtrail.sdk import instrument

GROQ = "https://api.groq.com/openai/v1"
MODEL = "llama-3.3-70b-versatile"
USAGE = {"x-fake-input-tokens": "1200", "x-fake-output-tokens": "300"}
MESSAGES = [{"role": "user", "content": "Where is my order #1234?"}]


def _to_fake(request: httpx.Request, fake_base: str) -> httpx.Request:
    """The same request, sent to the fake provider's URL in place of Groq's."""
    assert str(request.url).startswith(GROQ), request.url
    url = httpx.URL(fake_base + str(request.url)[len(GROQ) :])
    return httpx.Request(request.method, url, headers=request.headers, content=request.content)


class _ToFake(httpx.HTTPTransport):
    def __init__(self, fake_base: str) -> None:
        super().__init__()
        self.fake_base = fake_base

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(_to_fake(request, self.fake_base))


class _AsyncToFake(httpx.AsyncHTTPTransport):
    def __init__(self, fake_base: str) -> None:
        super().__init__()
        self.fake_base = fake_base

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(_to_fake(request, self.fake_base))


def _assert_groq(event: dict[str, Any], expected_cost: Any) -> None:
    assert event["provider"] == "groq"
    assert event["model"] == MODEL
    assert (event["input_tokens"], event["output_tokens"]) == (1200, 300)
    assert event["status"] == "success"
    assert not event["unpriced"]
    assert event["cost_usd"] == expected_cost("groq", MODEL, input_tokens=1200, output_tokens=300)
    assert event["cost_usd"] != expected_cost("openai", "gpt-4o-mini", input_tokens=1200, output_tokens=300)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_at_groq_url_is_recorded_as_groq(
    fake: Any, ledger: Any, expected_cost: Any, stream: bool
) -> None:
    http_client = httpx.Client(transport=_ToFake(fake.openai_base_url))
    with openai.OpenAI(base_url=GROQ, api_key="gsk-test", http_client=http_client) as client:
        instrument(client, recorder=ledger.recorder)
        result = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=stream, extra_headers=USAGE
        )
        if stream:
            for _ in result:
                pass
    (event,) = ledger.events()
    _assert_groq(event, expected_cost)
    assert fake.requests.last("/v1/chat/completions").body["model"] == MODEL


async def test_async_openai_client_at_groq_url_is_recorded_as_groq(
    fake: Any, ledger: Any, expected_cost: Any
) -> None:
    http_client = httpx.AsyncClient(transport=_AsyncToFake(fake.openai_base_url))
    async with openai.AsyncOpenAI(base_url=GROQ, api_key="gsk-test", http_client=http_client) as client:
        instrument(client, recorder=ledger.recorder)
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=USAGE)
    (event,) = ledger.events()
    _assert_groq(event, expected_cost)


def test_the_budget_check_prices_the_hosts_model(fake: Any, ledger: Any) -> None:
    controls = ControlsConfig.from_yaml("budgets: [{name: tiny, limit_usd: 0.0001}]\nalerts: {log: false}")
    costtrail.enforce_budgets(controls, recorder=ledger.recorder)
    http_client = httpx.Client(transport=_ToFake(fake.openai_base_url))
    with openai.OpenAI(base_url=GROQ, api_key="gsk-test", http_client=http_client, max_retries=0) as client:
        instrument(client, recorder=ledger.recorder)
        sent = len(fake.requests)
        # 1000 output tokens at Groq's $0.79/M: $0.00079, over the $0.0001 budget (OpenAI has no
        # price for this model, so priced as openai the estimate was $0 and the call went out).
        with pytest.raises(costtrail.BudgetExceeded, match="tiny"):
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=1000)
    assert len(fake.requests) == sent


def test_the_budget_check_counts_a_foreseen_web_search(fake: Any, ledger: Any) -> None:
    """Tokens alone: ~100 x $10/M output + a few input = ~$0.0011, inside $0.005; one web search
    adds genai-prices' $0.01 for gpt-4o, so the same call with the tool is stopped before it is sent."""
    controls = ControlsConfig.from_yaml("budgets: [{name: small, limit_usd: 0.005}]\nalerts: {log: false}")
    costtrail.enforce_budgets(controls, recorder=ledger.recorder)
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0) as client:
        instrument(client, recorder=ledger.recorder)
        ask: dict[str, Any] = {"model": "gpt-4o", "input": "What is new in FOCUS?", "max_output_tokens": 100}
        client.responses.create(
            **ask, extra_headers={"x-fake-input-tokens": "10", "x-fake-output-tokens": "5"}
        )
        sent = len(fake.requests)
        with pytest.raises(costtrail.BudgetExceeded, match="small"):
            client.responses.create(**ask, tools=[{"type": "web_search"}])
    assert len(fake.requests) == sent  # never sent
