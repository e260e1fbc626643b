"""Anthropic Messages wire format: JSON and the SSE event sequence, with cache and thinking usage."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

from costtrail.demo.fake_provider.knobs import Knobs, output_words, random_id, text_pieces
from costtrail.demo.fake_provider.openai_wire import sse
from costtrail.wire.errors import error_body
from costtrail.wire.flavors import ANTHROPIC

_BASE62 = string.ascii_letters + string.digits


def messages_usage(k: Knobs, *, output_tokens: int | None = None) -> dict[str, Any]:
    """Anthropic's usage: ``input_tokens`` EXCLUDES cache reads and writes (unlike OpenAI)."""
    out: dict[str, Any] = {
        "input_tokens": k.uncached_input_tokens,
        "cache_creation_input_tokens": k.cache_write_tokens,
        "cache_read_input_tokens": k.cached_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": k.cache_write_tokens - k.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": k.cache_write_1h_tokens,
        },
        "output_tokens": k.output_tokens if output_tokens is None else output_tokens,
        "service_tier": k.service_tier or "standard",
    }
    if k.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": k.reasoning_tokens}
    return out


def _stop_reason(k: Knobs, body: dict[str, Any]) -> str:
    if k.tool_calls:
        return "tool_use"
    limit = body.get("max_tokens")
    return "max_tokens" if isinstance(limit, int) and k.output_tokens >= limit else "end_turn"


def _blocks(k: Knobs) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if k.reasoning_tokens:
        thinking = " ".join(output_words(min(k.reasoning_tokens, 24)))
        blocks.append({"type": "thinking", "thinking": thinking, "signature": random_id("Eq", 40)})
    if k.visible_output_tokens or not k.tool_calls:
        blocks.append({"type": "text", "text": " ".join(output_words(k.visible_output_tokens))})
    for i in range(k.tool_calls):
        blocks.append(
            {
                "type": "tool_use",
                "id": random_id("toolu_01", 22, _BASE62),
                "name": k.tool_name,
                "input": {"query": f"q{i}"},
            }
        )
    return blocks


def message(k: Knobs, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": random_id("msg_01", 22, _BASE62),
        "type": "message",
        "role": "assistant",
        "model": k.model,
        "content": _blocks(k),
        "stop_reason": _stop_reason(k, body),
        "stop_sequence": None,
        "usage": messages_usage(k),
    }


def message_stream(k: Knobs, body: dict[str, Any]) -> Iterator[bytes]:
    start = {
        **message(k, body),
        "content": [],
        "stop_reason": None,
        "usage": messages_usage(k, output_tokens=1),
    }
    yield sse({"type": "message_start", "message": start}, event="message_start")
    for index, block in enumerate(_blocks(k)):
        yield from _block_events(k, index, block)
        errored = k.stream_error_after is not None and k.stream_error_after < len(
            text_pieces(k.visible_output_tokens)
        )
        if block["type"] == "text" and errored:
            return
    delta = {"stop_reason": _stop_reason(k, body), "stop_sequence": None}
    yield sse({"type": "message_delta", "delta": delta, "usage": messages_usage(k)}, event="message_delta")
    yield sse({"type": "message_stop"}, event="message_stop")


def _block_events(k: Knobs, index: int, block: dict[str, Any]) -> Iterator[bytes]:
    kind = block["type"]
    empty = {
        "text": {"type": "text", "text": ""},
        "thinking": {"type": "thinking", "thinking": "", "signature": ""},
    }
    head = empty.get(kind, {**block, "input": {}})
    yield sse(
        {"type": "content_block_start", "index": index, "content_block": head}, event="content_block_start"
    )
    if index == 0:
        yield sse({"type": "ping"}, event="ping")
    if kind == "text":
        for n, piece in enumerate(text_pieces(k.visible_output_tokens)):
            if k.stream_error_after is not None and n >= k.stream_error_after:
                yield sse(error_body(ANTHROPIC, 529, "Overloaded"), event="error")
                return
            delta = {"type": "text_delta", "text": piece}
            yield sse(
                {"type": "content_block_delta", "index": index, "delta": delta}, event="content_block_delta"
            )
    elif kind == "thinking":
        delta = {"type": "thinking_delta", "thinking": block["thinking"]}
        yield sse(
            {"type": "content_block_delta", "index": index, "delta": delta}, event="content_block_delta"
        )
        delta = {"type": "signature_delta", "signature": block["signature"]}
        yield sse(
            {"type": "content_block_delta", "index": index, "delta": delta}, event="content_block_delta"
        )
    else:
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield sse(
            {"type": "content_block_delta", "index": index, "delta": delta}, event="content_block_delta"
        )
    yield sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
