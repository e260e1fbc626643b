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


def request_tool_uses(body: Mapping[str, Any]) -> dict[str, int]:
    """The server-side tool uses a request foresees, by event field (for the budget estimate).

    At least one search a call for a web search tool: chat ``web_search_options``, a Responses
    ``web_search*`` tool, an Anthropic ``web_search_*`` tool (its ``max_uses`` when given: the most
    it may search), Gemini's ``google_search``; one for a Responses ``file_search`` tool.

    >>> request_tool_uses({"model": "gpt-4o", "input": "hi", "tools": [{"type": "web_search"}]})
    {'web_searches': 1}
    >>> request_tool_uses({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]})
    {'web_searches': 5}
    """
    uses = {"web_searches": request_web_searches(body), "file_searches": 0}
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, Mapping):
            continue
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith("web_search"):
            most = tool.get("max_uses")
            searches = most if isinstance(most, int) and not isinstance(most, bool) and most > 0 else 1
            uses["web_searches"] = max(uses["web_searches"], searches)
        elif kind == "file_search":
            uses["file_searches"] = 1
        elif "google_search" in tool or "googleSearch" in tool:
            uses["web_searches"] = max(uses["web_searches"], 1)
    return {name: count for name, count in uses.items() if count}


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
