"""A gateway whose OpenAI upstream is another provider's OpenAI-compatible host records that provider.

The hosts are outside the machine: the gateway's httpx client (``create_gateway_app(client=...)``)
sends what it addresses to ``https://api.groq.com/openai/v1/...`` (and the others) to the fake
provider over real HTTP on 127.0.0.1, so the gateway itself only knows the host's URL.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from tests.gateway.conftest import MakeRig
from tests.prices import genai_price

USAGE = {"x-fake-input-tokens": "1200", "x-fake-output-tokens": "300"}
MESSAGES = [{"role": "user", "content": "Where is my order #1234?"}]

# (upstream base URL, genai-prices provider, a model that provider prices)
HOSTS = [
    ("https://api.groq.com/openai", "groq", "llama-3.3-70b-versatile"),
    ("https://api.deepseek.com", "deepseek", "deepseek-chat"),
    ("https://api.mistral.ai", "mistral", "mistral-small-latest"),
    ("https://api.x.ai/v1", "x-ai", "grok-3"),
    ("https://api.together.xyz/v1", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ("https://openrouter.ai/api/v1", "openrouter", "openai/gpt-4o"),
]


class _ToFake(httpx.AsyncHTTPTransport):
    """Sends a request addressed to ``host`` to the fake provider's ``/v1/...`` instead."""

    def __init__(self, host: str, fake_base: str) -> None:
        super().__init__()
        self.host, self.fake_base = host.rstrip("/").removesuffix("/v1"), fake_base

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        assert url.startswith(self.host), url
        rest = url[len(self.host) :]
        target = httpx.URL(self.fake_base.removesuffix("/v1") + rest)
        forwarded = httpx.Request(request.method, target, headers=request.headers, content=request.content)
        return await super().handle_async_request(forwarded)


@pytest.mark.parametrize(("host", "provider", "model"), HOSTS)
def test_upstream_at_known_host_records_its_provider(
    make_rig: MakeRig, fake: Any, host: str, provider: str, model: str
) -> None:
    rig = make_rig(
        upstreams={"openai": host, "anthropic": fake.base_url},
        client=httpx.AsyncClient(transport=_ToFake(host, fake.openai_base_url)),
    )
    client = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-test", max_retries=0))
    client.chat.completions.create(model=model, messages=MESSAGES, extra_headers=USAGE)
    (event,) = rig.events()
    assert (event["provider"], event["model"], event["status"]) == (provider, model, "success")
    assert event["cost_usd"] == genai_price(provider, model, input_tokens=1200, output_tokens=300)
    assert fake.requests.last("/v1/chat/completions").body["model"] == model


def test_streamed_call_to_groq_upstream_is_groq(make_rig: MakeRig, fake: Any) -> None:
    host, model = "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile"
    rig = make_rig(
        upstreams={"openai": host, "anthropic": fake.base_url},
        client=httpx.AsyncClient(transport=_ToFake(host, fake.openai_base_url)),
    )
    client = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-test", max_retries=0))
    for _ in client.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_headers=USAGE):
        pass
    (event,) = rig.events()
    assert event["provider"] == "groq"
    assert event["cost_usd"] == genai_price("groq", model, input_tokens=1200, output_tokens=300)
