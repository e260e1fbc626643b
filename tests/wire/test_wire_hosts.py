"""Provider from the host: genai-prices' api_pattern of each provider, on the hosts' real API URLs."""

from __future__ import annotations

import pytest

from costtrail.wire import provider_for_url


@pytest.mark.parametrize(
    ("base_url", "provider"),
    [
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.mistral.ai/v1", "mistral"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://api.x.ai/v1", "x-ai"),
        ("https://api.together.xyz/v1", "together"),
        ("https://api.fireworks.ai/inference/v1", "fireworks"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.openai.com/v1", "openai"),
        ("https://api.anthropic.com", "anthropic"),
    ],
)
def test_known_hosts_are_their_provider(base_url: str, provider: str) -> None:
    assert provider_for_url(base_url, "openai") == provider


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost:8000/v1",
        "http://127.0.0.1:11434/v1",
        "http://10.0.0.5:8000/v1",
        "https://vllm.internal.example.com/v1",
        "",
    ],
)
def test_unknown_hosts_keep_the_client_provider(base_url: str) -> None:
    assert provider_for_url(base_url, "openai") == "openai"
    assert provider_for_url(base_url, "anthropic") == "anthropic"
