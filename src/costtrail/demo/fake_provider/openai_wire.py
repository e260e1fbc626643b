"""OpenAI wire format: chat completions, Responses, legacy completions, embeddings (JSON and SSE)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

from costtrail.demo.fake_provider.knobs import Knobs, hex_id, output_words, random_id, text_pieces
from costtrail.wire.errors import OPENAI_ERROR_TYPES, error_body
from costtrail.wire.flavors import OPENAI

FINGERPRINT = "fp_c0571ed5ab"


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {body}\n\n".encode()


_CODES = {429: "rate_limit_exceeded", 401: "invalid_api_key", 500: "server_error", 503: "server_error"}


def openai_error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error as its API sends it: a 429 is a rate limit (``requests``), a 5xx a ``server_error``."""
    kind = "requests" if status == 429 else "server_error" if status not in OPENAI_ERROR_TYPES else None
    return error_body(OPENAI, status, message, kind=kind, code=_CODES.get(status))


def chat_usage(k: Knobs) -> dict[str, Any]:
    return {
        "prompt_tokens": k.input_tokens,
        "completion_tokens": k.output_tokens,
        "total_tokens": k.input_tokens + k.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": k.cached_tokens,
            "cache_write_tokens": k.cache_write_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": k.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def responses_usage(k: Knobs) -> dict[str, Any]:
    return {
        "input_tokens": k.input_tokens,
        "input_tokens_details": {
            "cached_tokens": k.cached_tokens,
            "cache_write_tokens": k.cache_write_tokens,
        },
        "output_tokens": k.output_tokens,
        "output_tokens_details": {"reasoning_tokens": k.reasoning_tokens},
        "total_tokens": k.input_tokens + k.output_tokens,
    }


def _tool_calls(k: Knobs) -> list[dict[str, Any]]:
    return [
        {
            "id": random_id("call_"),
            "type": "function",
            "function": {"name": k.tool_name, "arguments": json.dumps({"query": f"q{i}"})},
        }
        for i in range(k.tool_calls)
    ]


def _finish_reason(k: Knobs, body: dict[str, Any]) -> str:
    if k.tool_calls:
        return "tool_calls"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return "length" if isinstance(limit, int) and k.output_tokens >= limit else "stop"


def chat_completion(k: Knobs, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
    if k.tool_calls:
        message["content"] = None
        message["tool_calls"] = _tool_calls(k)
    else:
        message["content"] = " ".join(output_words(k.visible_output_tokens))
    return {
        "id": random_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": k.model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(k, body)}
        ],
        "usage": chat_usage(k),
        "service_tier": k.service_tier or "default",
        "system_fingerprint": FINGERPRINT,
    }


def chat_stream(k: Knobs, body: dict[str, Any]) -> Iterator[bytes]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": random_id("chatcmpl-", 29),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": k.model,
        "service_tier": k.service_tier or "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None
        return sse(data)

    yield chunk({"role": "assistant", "content": "" if not k.tool_calls else None, "refusal": None})
    if k.tool_calls:
        for i, call in enumerate(_tool_calls(k)):
            fn = call["function"]
            head = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": fn["name"], "arguments": ""},
            }
            yield chunk({"tool_calls": [head]})
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": fn["arguments"]}}]})
    else:
        for n, piece in enumerate(text_pieces(k.visible_output_tokens)):
            if k.stream_error_after is not None and n >= k.stream_error_after:
                yield sse(openai_error_body(500, "The server had an error while processing your request."))
                return
            yield chunk({"content": piece})
    yield chunk({}, _finish_reason(k, body))
    if include_usage:
        yield sse({**base, "choices": [], "usage": chat_usage(k)})
    yield sse("[DONE]")


def completion(k: Knobs, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": random_id("cmpl-", 29),
        "object": "text_completion",
        "created": int(time.time()),
        "model": k.model,
        "choices": [
            {
                "text": " ".join(output_words(k.visible_output_tokens)),
                "index": 0,
                "logprobs": None,
                "finish_reason": _finish_reason(k, body),
            }
        ],
        "usage": chat_usage(k),
        "system_fingerprint": FINGERPRINT,
    }


def completion_stream(k: Knobs, body: dict[str, Any]) -> Iterator[bytes]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": random_id("cmpl-", 29),
        "object": "text_completion",
        "created": int(time.time()),
        "model": k.model,
    }
    pieces = text_pieces(k.visible_output_tokens)
    for n, piece in enumerate(pieces):
        finish = _finish_reason(k, body) if n == len(pieces) - 1 else None
        data = {**base, "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None
        yield sse(data)
    if include_usage:
        yield sse({**base, "choices": [], "usage": chat_usage(k)})
    yield sse("[DONE]")


def _responses_output(k: Knobs, done: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if k.reasoning_tokens:
        items.append({"type": "reasoning", "id": hex_id("rs_", 24), "summary": []})
    for call in _tool_calls(k):
        items.append(
            {
                "type": "function_call",
                "id": hex_id("fc_", 24),
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    if not k.tool_calls:
        text = " ".join(output_words(k.visible_output_tokens)) if done else ""
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        items.append(
            {
                "type": "message",
                "id": hex_id("msg_", 24),
                "status": "completed" if done else "in_progress",
                "role": "assistant",
                "content": [part] if done else [],
            }
        )
    return items


def response_object(
    k: Knobs, body: dict[str, Any], *, rid: str, status: str, output: list[Any]
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": k.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": k.service_tier or "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": responses_usage(k) if status == "completed" else None,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def response(k: Knobs, body: dict[str, Any]) -> dict[str, Any]:
    return response_object(
        k, body, rid=hex_id("resp_", 24), status="completed", output=_responses_output(k, True)
    )


def response_stream(k: Knobs, body: dict[str, Any]) -> Iterator[bytes]:
    rid = hex_id("resp_", 24)
    seq = iter(range(1_000_000))

    def ev(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

    yield ev("response.created", response=response_object(k, body, rid=rid, status="in_progress", output=[]))
    yield ev(
        "response.in_progress", response=response_object(k, body, rid=rid, status="in_progress", output=[])
    )
    final = _responses_output(k, True)
    for index, item in enumerate(final):
        if item["type"] == "message":
            yield from _stream_message_item(k, ev, index, item)
        elif item["type"] == "function_call":
            yield ev(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            yield ev(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
            yield ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
            yield ev("response.output_item.done", output_index=index, item=item)
        else:
            yield ev("response.output_item.added", output_index=index, item=item)
            yield ev("response.output_item.done", output_index=index, item=item)
    done = response_object(k, body, rid=rid, status="completed", output=final)
    yield ev("response.completed", response=done)


def _stream_message_item(k: Knobs, ev: Any, index: int, item: dict[str, Any]) -> Iterator[bytes]:
    item_id = item["id"]
    yield ev(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield ev("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=empty)
    for n, piece in enumerate(text_pieces(k.visible_output_tokens)):
        if k.stream_error_after is not None and n >= k.stream_error_after:
            yield ev("error", code="server_error", message="The server had an error.", param=None)
            return
        yield ev(
            "response.output_text.delta",
            item_id=item_id,
            output_index=index,
            content_index=0,
            delta=piece,
            logprobs=[],
        )
    part = item["content"][0]
    yield ev(
        "response.output_text.done",
        item_id=item_id,
        output_index=index,
        content_index=0,
        text=part["text"],
        logprobs=[],
    )
    yield ev("response.content_part.done", item_id=item_id, output_index=index, content_index=0, part=part)
    yield ev("response.output_item.done", output_index=index, item=item)


def embedding_inputs(body: dict[str, Any]) -> list[Any]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [raw]
    return list(raw) if isinstance(raw, list) else []


def embedding_tokens(inputs: list[Any]) -> int:
    total = 0
    for item in inputs:
        total += len(item) if isinstance(item, list) else max(1, -(-len(str(item)) // 4))
    return max(1, total)


def _vector(text: Any, dims: int) -> list[float]:
    digest = hashlib.sha256(repr(text).encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128.0, 6) for i in range(dims)]


def embeddings(k: Knobs, body: dict[str, Any], inputs: list[Any]) -> dict[str, Any]:
    requested = body.get("dimensions")
    dims = requested if isinstance(requested, int) and requested > 0 else 16
    b64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(inputs):
        vec = _vector(text, dims)
        value: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": k.model,
        "usage": {"prompt_tokens": k.input_tokens, "total_tokens": k.input_tokens},
    }
