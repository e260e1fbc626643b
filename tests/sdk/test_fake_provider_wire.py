"""The fake provider speaks the wire formats: include_usage semantics, Anthropic cache usage, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

AUTH = {"Authorization": "Bearer sk-test"}


def _sse_data(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


def test_usage_chunk_only_when_asked(fake) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.Client(base_url=fake.openai_base_url, headers=AUTH) as client:
        plain = _sse_data(client.post("/chat/completions", json=body).text)
        asked = client.post("/chat/completions", json={**body, "stream_options": {"include_usage": True}})
    assert all("usage" not in chunk for chunk in plain)
    chunks = _sse_data(asked.text)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert asked.headers["x-request-id"].startswith("req_")


def test_anthropic_usage_excludes_cache_from_input(fake) -> None:
    headers = {
        "x-api-key": "k",
        "x-fake-input-tokens": "100",
        "x-fake-cached-tokens": "60",
        "x-fake-cache-write-tokens": "10",
    }
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=fake.base_url, headers=headers) as client:
        reply = client.post("/v1/messages", json=body)
    usage = reply.json()["usage"]
    assert (
        usage["input_tokens"],
        usage["cache_read_input_tokens"],
        usage["cache_creation_input_tokens"],
    ) == (30, 60, 10)
    assert reply.headers["request-id"].startswith("req_")


def test_errors_in_each_providers_shape(fake) -> None:
    with httpx.Client(base_url=fake.base_url) as client:
        missing_key = client.post("/v1/chat/completions", json={"model": "gpt-4o"})
        limited = client.post(
            "/v1/messages",
            headers={"x-api-key": "k", "x-fake-status": "429"},
            json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []},
        )
    assert missing_key.status_code == 401 and missing_key.json()["error"]["code"] == "invalid_api_key"
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.headers["retry-after-ms"] == "5"


def test_module_runs_as_a_program() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "costtrail.demo.fake_provider", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--port" in out.stdout and "example" in out.stdout
