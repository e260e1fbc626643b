"""What a request body says before its answer: the input tokens it will likely use.

About four characters a token over the request's text (messages, input,
prompt, system, instructions, tools; Gemini's contents): the usual rule for English with OpenAI
and Anthropic tokenizers. Used for budget estimates and for the estimated
cost of an incomplete call whose provider never reported its input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

# OpenAI and Anthropic request fields, then Gemini's (generateContent, embedContent, batchEmbedContents).
TEXT_FIELDS = (
    "messages",
    "input",
    "prompt",
    "system",
    "instructions",
    "tools",
    "contents",
    "systemInstruction",
    "content",
    "requests",
)


def text_chars(value: Any) -> int:
    """Characters of text anywhere inside a request field (not ``type``/``role`` markers)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(text_chars(v) for k, v in value.items() if k not in ("type", "role"))
    return 0


def request_web_searches(body: Mapping[str, Any] | bytes) -> int:
    """1 for a chat request with ``web_search_options`` (a search model searches once a call), else 0.

    >>> request_web_searches({"model": "gpt-4o-search-preview", "web_search_options": {}})
    1
    >>> request_web_searches(b'{"model": "gpt-4o", "messages": []}')
    0
    """
    if isinstance(body, bytes | bytearray):
        if b'"web_search_options"' not in body:  # most calls: no decoding on the caller's thread
            return 0
        try:
            decoded = json.loads(body)
        except ValueError:
            return 0
        body = decoded if isinstance(decoded, Mapping) else {}
    return int(isinstance(body.get("web_search_options"), Mapping))


def request_input_tokens(body: Mapping[str, Any] | bytes) -> int:
    """Estimated input tokens of a request body (decoded, or its raw JSON bytes); at least 1.

    >>> request_input_tokens({"messages": [{"role": "user", "content": "x" * 40}]})
    10
    """
    if isinstance(body, bytes | bytearray):
        try:
            decoded = json.loads(body) if body else {}
        except ValueError:
            decoded = {}
        body = decoded if isinstance(decoded, Mapping) else {}
    return max(1, math.ceil(sum(text_chars(body.get(f)) for f in TEXT_FIELDS) / 4))
