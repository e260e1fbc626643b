"""What a call used, read from each wire format: JSON responses and SSE streams.

Counts follow the envelope's convention: input inclusive of cache reads and
writes (Anthropic reports them apart: they are added), output inclusive of
reasoning (both providers already include it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from costtrail.gateway.sse import SseEvent


@dataclass
class Usage:
    """Tokens and identity of one call as the provider reported them (envelope convention)."""

    model: str | None = None
    request_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    tool_calls: int = 0
    seen: bool = False  # a usage block was found (a call without one is priced on zero tokens)
    error_type: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "input_audio_tokens": self.input_audio_tokens,
            "output_audio_tokens": self.output_audio_tokens,
            "tool_calls": self.tool_calls,
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def apply_openai_usage(u: Usage, usage: Any) -> None:
    """Chat/completions (``prompt_tokens``) or Responses (``input_tokens``) usage blocks."""
    usage = _dict(usage)
    if not usage:
        return
    u.seen = True
    u.input_tokens = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    u.output_tokens = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    details = _dict(usage.get("prompt_tokens_details") or usage.get("input_tokens_details"))
    u.cache_read_tokens = _int(details.get("cached_tokens"))
    u.cache_write_tokens = _int(details.get("cache_write_tokens"))
    u.input_audio_tokens = _int(details.get("audio_tokens"))
    out = _dict(usage.get("completion_tokens_details") or usage.get("output_tokens_details"))
    u.reasoning_tokens = _int(out.get("reasoning_tokens"))
    u.output_audio_tokens = _int(out.get("audio_tokens"))


def apply_anthropic_usage(u: Usage, usage: Any) -> None:
    """Anthropic usage: ``input_tokens`` excludes cache reads and writes, so they are added."""
    usage = _dict(usage)
    if not usage:
        return
    u.seen = True
    if "input_tokens" in usage or "cache_read_input_tokens" in usage:
        u.cache_read_tokens = _int(usage.get("cache_read_input_tokens")) or u.cache_read_tokens
        u.cache_write_tokens = _int(usage.get("cache_creation_input_tokens")) or u.cache_write_tokens
        if "input_tokens" in usage:
            u.input_tokens = _int(usage["input_tokens"]) + u.cache_read_tokens + u.cache_write_tokens
    if "output_tokens" in usage:
        u.output_tokens = _int(usage["output_tokens"])  # cumulative in message_delta
    thinking = _dict(usage.get("output_tokens_details")).get("thinking_tokens")
    if thinking is not None:
        u.reasoning_tokens = _int(thinking)


def _error_type(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("type") or error.get("code") or "error")
    return None


def openai_response(body: Any) -> Usage:
    """Usage of a JSON response from chat/completions, completions, responses or embeddings."""
    u = Usage()
    if not isinstance(body, dict):
        return u
    u.model = body.get("model") if isinstance(body.get("model"), str) else None
    u.request_id = body.get("id") if isinstance(body.get("id"), str) else None
    apply_openai_usage(u, body.get("usage"))
    u.tool_calls = _openai_tool_calls(body)
    u.error_type = _error_type(body)
    return u


def _openai_tool_calls(body: dict[str, Any]) -> int:
    calls = 0
    for choice in body.get("choices") or ():
        message = _dict(_dict(choice).get("message"))
        calls += len(message.get("tool_calls") or ())
    for item in body.get("output") or ():
        if _dict(item).get("type") == "function_call":
            calls += 1
    return calls


def anthropic_response(body: Any) -> Usage:
    """Usage of an Anthropic Messages JSON response."""
    u = Usage()
    if not isinstance(body, dict):
        return u
    u.model = body.get("model") if isinstance(body.get("model"), str) else None
    u.request_id = body.get("id") if isinstance(body.get("id"), str) else None
    apply_anthropic_usage(u, body.get("usage"))
    u.tool_calls = sum(1 for b in body.get("content") or () if _dict(b).get("type") == "tool_use")
    u.error_type = _error_type(body)
    return u


# Only chunks that may carry usage, an error or a tool call are parsed; text deltas are not.
_MARKERS = (b'"usage":{', b'"usage": {', b'"error"', b'"tool_calls"', b"function_call")


class OpenAIStream:
    """Reads usage from OpenAI SSE: the ``include_usage`` chunk, or ``response.completed``."""

    def __init__(self) -> None:
        self.usage = Usage()
        self._calls: set[tuple[int, int]] = set()

    def feed(self, event: SseEvent) -> None:
        data = event.data
        if not data or data == b"[DONE]":
            return
        u = self.usage
        if u.model is None or any(marker in data for marker in _MARKERS):
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        try:
            body = json.loads(data)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        u = self.usage
        response = _dict(body.get("response"))  # Responses API events wrap the response
        source = response or body
        if u.model is None and isinstance(source.get("model"), str):
            u.model = source["model"]
            u.request_id = source.get("id") if isinstance(source.get("id"), str) else None
        if isinstance(source.get("usage"), dict):
            apply_openai_usage(u, source["usage"])
            if response:
                u.tool_calls = _openai_tool_calls(response)
        if "error" in body and body.get("error"):
            u.error_type = _error_type(body) or "error"
        for choice in body.get("choices") or ():
            for call in _dict(_dict(choice).get("delta")).get("tool_calls") or ():
                self._calls.add((_int(_dict(choice).get("index")), _int(_dict(call).get("index"))))
        if self._calls:
            u.tool_calls = len(self._calls)


class AnthropicStream:
    """Reads usage from Anthropic SSE: ``message_start`` (input, cache) and ``message_delta`` (output)."""

    def __init__(self) -> None:
        self.usage = Usage()

    def feed(self, event: SseEvent) -> None:
        if event.name not in ("message_start", "message_delta", "content_block_start", "error"):
            return
        try:
            body = json.loads(event.data)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        u = self.usage
        if event.name == "message_start":
            message = _dict(body.get("message"))
            u.model = message.get("model") if isinstance(message.get("model"), str) else None
            u.request_id = message.get("id") if isinstance(message.get("id"), str) else None
            apply_anthropic_usage(u, message.get("usage"))
        elif event.name == "message_delta":
            apply_anthropic_usage(u, body.get("usage"))
        elif event.name == "content_block_start":
            if _dict(body.get("content_block")).get("type") == "tool_use":
                u.tool_calls += 1
        else:
            u.error_type = _error_type(body) or "error"
