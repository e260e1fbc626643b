"""What a fake response contains: token counts and behaviour, derived from the request.

Everything is deterministic: the same request (body and ``x-fake-*`` headers)
gets the same usage, so tests can compute the exact expected cost.
"""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_OUTPUT = 4096
_ALNUM = string.ascii_letters + string.digits
# A fixed vocabulary: one word per output token keeps the text length predictable.
_VOCABULARY = (
    "the ledger records every call so finance can trace cost to the run "
    "feature and customer that caused it while engineering keeps shipping"
)
_WORDS = tuple(_VOCABULARY.split(" "))


class KnobError(ValueError):
    """A ``x-fake-*`` header has a value the fake provider cannot use."""


@dataclass(frozen=True)
class Knobs:
    """The usage and behaviour of one fake response.

    ``input_tokens`` is inclusive of ``cached_tokens`` and ``cache_write_tokens``;
    ``output_tokens`` is inclusive of ``reasoning_tokens`` (costtrail's convention;
    each wire format then expresses it its own way).
    """

    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written with a one-hour TTL
    reasoning_tokens: int = 0
    tool_calls: int = 0
    tool_name: str = "lookup"
    error_status: int | None = None
    delay_ms: int = 0
    retry_after_ms: int = 5
    stream_error_after: int | None = None
    cut_body: int | None = None
    service_tier: str | None = None  # the tier answered (OpenAI top level, Anthropic usage.service_tier)

    @property
    def visible_output_tokens(self) -> int:
        return self.output_tokens - self.reasoning_tokens

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens


def count_text_chars(value: Any) -> int:
    """Characters of text in a request field (strings anywhere inside lists and objects)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(count_text_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(
            count_text_chars(v) for k, v in value.items() if k not in ("type", "role", "cache_control")
        )
    return 0


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """~4 characters a token, plus 3 per message of framing: stable and easy to predict."""
    fields = ("messages", "input", "prompt", "system", "instructions", "tools")
    chars = sum(count_text_chars(body.get(f)) for f in fields)
    messages = body.get("messages")
    framing = 3 * len(messages) if isinstance(messages, list) else 0
    return max(1, math.ceil(chars / 4) + framing + 3)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise KnobError(f"header {name} must be a non-negative integer, got {raw!r}") from exc
    if value < 0:
        raise KnobError(f"header {name} must be a non-negative integer, got {raw!r}")
    return value


def _max_output(body: Mapping[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_MAX_OUTPUT


def first_tool_name(body: Mapping[str, Any]) -> str:
    """The name of the first tool the request offers (OpenAI chat, Responses or Anthropic shape)."""
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[0], dict):
        tool = tools[0]
        fn = tool.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
        if isinstance(tool.get("name"), str):
            return str(tool["name"])
    return "lookup"


def knobs_from_request(body: Mapping[str, Any], headers: Mapping[str, str]) -> Knobs:
    """Read the request's usage and behaviour (``headers`` keys lower-case)."""
    model = headers.get("x-fake-model") or str(body.get("model") or "")
    input_tokens = _int_header(headers, "x-fake-input-tokens")
    if input_tokens is None:
        input_tokens = estimate_input_tokens(body)
    cached = _int_header(headers, "x-fake-cached-tokens") or 0
    cache_write_1h = _int_header(headers, "x-fake-cache-write-1h-tokens") or 0
    cache_write = max(_int_header(headers, "x-fake-cache-write-tokens") or 0, cache_write_1h)
    if cached + cache_write > input_tokens:
        input_tokens = cached + cache_write + 1
    reasoning = _int_header(headers, "x-fake-reasoning-tokens") or 0
    output_tokens = _int_header(headers, "x-fake-output-tokens")
    if output_tokens is None:
        output_tokens = reasoning + min(_max_output(body), 20 + input_tokens // 2)
    output_tokens = max(output_tokens, reasoning)
    attempt = int(headers.get("x-stainless-retry-count", "0") or 0)
    fail_attempts = _int_header(headers, "x-fake-fail-attempts")
    status = _int_header(headers, "x-fake-status")
    if fail_attempts is not None:
        status = (status or 500) if attempt < fail_attempts else None
    return Knobs(
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=cache_write_1h,
        reasoning_tokens=reasoning,
        tool_calls=_int_header(headers, "x-fake-tool-calls") or 0,
        tool_name=first_tool_name(body),
        error_status=status,
        delay_ms=_int_header(headers, "x-fake-delay-ms") or 0,
        retry_after_ms=_int_header(headers, "x-fake-retry-after-ms") or 5,
        stream_error_after=_int_header(headers, "x-fake-stream-error-after"),
        cut_body=_int_header(headers, "x-fake-cut-body"),
        service_tier=headers.get("x-fake-service-tier") or None,
    )


def output_words(n: int) -> list[str]:
    """``n`` deterministic words (one per output token)."""
    return [_WORDS[i % len(_WORDS)] for i in range(n)]


def text_pieces(n_tokens: int, max_pieces: int = 48) -> list[str]:
    """The visible text as stream deltas: one word each, grouped so a stream has at most ``max_pieces``."""
    words = output_words(n_tokens)
    if not words:
        return []
    per = max(1, math.ceil(len(words) / max_pieces))
    pieces = []
    for i in range(0, len(words), per):
        lead = "" if i == 0 else " "
        pieces.append(lead + " ".join(words[i : i + per]))
    return pieces


def random_id(prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def hex_id(prefix: str, nbytes: int = 16) -> str:
    return prefix + secrets.token_hex(nbytes)
