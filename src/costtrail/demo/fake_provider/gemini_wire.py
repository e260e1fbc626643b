"""Gemini API wire format: ``generateContent`` JSON, ``streamGenerateContent`` SSE, embeddings.

The model comes from the URL (``/v1beta/models/{model}:{method}``); the API key from the
``x-goog-api-key`` header or the ``key`` query parameter (never kept). The knobs are the
other formats' (``x-fake-*`` headers, see the package docstring), plus
``x-fake-tool-use-prompt-tokens`` (``toolUsePromptTokenCount``, counted on top of the input).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from costtrail.demo.fake_provider.knobs import (
    KnobError,
    Knobs,
    knobs_from_request,
    output_words,
    random_id,
    text_pieces,
)
from costtrail.wire.errors import error_body
from costtrail.wire.flavors import GOOGLE

_METHODS = ("generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents")


def usage_metadata(k: Knobs, tool_prompt: int, *, final: bool = True) -> dict[str, Any]:
    """``usageMetadata``: the prompt count includes the cached tokens; thoughts are apart from candidates."""
    prompt = k.input_tokens
    out: dict[str, Any] = {"promptTokenCount": prompt}
    if final:
        out["candidatesTokenCount"] = k.visible_output_tokens
    if k.cached_tokens:
        out["cachedContentTokenCount"] = k.cached_tokens
    if tool_prompt:
        out["toolUsePromptTokenCount"] = tool_prompt
    if k.reasoning_tokens and final:
        out["thoughtsTokenCount"] = k.reasoning_tokens
    out["totalTokenCount"] = prompt + tool_prompt + (k.output_tokens if final else 0)
    out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if k.cached_tokens:
        out["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": k.cached_tokens}]
    return out


def _finish(k: Knobs, body: dict[str, Any]) -> str:
    config = body.get("generationConfig") or {}
    cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
    return "MAX_TOKENS" if isinstance(cap, int) and k.output_tokens >= cap else "STOP"


def _parts(k: Knobs, text: str) -> list[dict[str, Any]]:
    if k.tool_calls:
        return [
            {"functionCall": {"name": k.tool_name, "args": {"query": f"q{i}"}}} for i in range(k.tool_calls)
        ]
    return [{"text": text}]


def generate(k: Knobs, body: dict[str, Any], tool_prompt: int) -> dict[str, Any]:
    text = " ".join(output_words(k.visible_output_tokens))
    return {
        "candidates": [
            {
                "content": {"parts": _parts(k, text), "role": "model"},
                "finishReason": _finish(k, body),
                "index": 0,
            }
        ],
        "usageMetadata": usage_metadata(k, tool_prompt),
        "modelVersion": k.model,
        "responseId": random_id("", 22),
    }


def stream_chunks(k: Knobs, body: dict[str, Any], tool_prompt: int) -> Iterator[dict[str, Any]]:
    """The chunks of ``streamGenerateContent``: text pieces, then the finish reason with the whole usage."""
    rid = random_id("", 22)
    base = {"modelVersion": k.model, "responseId": rid}
    pieces = [] if k.tool_calls else text_pieces(k.visible_output_tokens)
    for n, piece in enumerate(pieces):
        if k.stream_error_after is not None and n >= k.stream_error_after:
            yield error_body(GOOGLE, 503, "The model is overloaded. Please try again later.")
            return
        candidate = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        yield {
            "candidates": [candidate],
            "usageMetadata": usage_metadata(k, tool_prompt, final=False),
            **base,
        }
    last = {
        "content": {"parts": _parts(k, ""), "role": "model"},
        "finishReason": _finish(k, body),
        "index": 0,
    }
    yield {"candidates": [last], "usageMetadata": usage_metadata(k, tool_prompt), **base}


def _values(text: str, dimensions: int) -> list[float]:
    seed = sum(map(ord, text)) or 1
    return [round(math.sin(seed * (i + 1)), 6) for i in range(dimensions)]


def embedding(body: dict[str, Any]) -> dict[str, Any]:
    """``embedContent`` (``embedding``) or ``batchEmbedContents`` (``embeddings``): no usage, as Google."""
    dims = body.get("outputDimensionality")
    size = dims if isinstance(dims, int) and 0 < dims <= 3072 else 16
    if isinstance(body.get("requests"), list):
        return {"embeddings": [{"values": _values(json.dumps(r), size)} for r in body["requests"]]}
    return {"embedding": {"values": _values(json.dumps(body.get("content")), size)}}


def _sse(chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\r\n\r\n"


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


def request_view(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """The request as the knobs read it (the text of ``contents``, the output cap)."""
    config = body.get("generationConfig")
    cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
    view: dict[str, Any] = {
        "model": model,
        "input": body.get("contents"),
        "system": body.get("systemInstruction"),
        "tools": body.get("tools"),
    }
    if isinstance(cap, int):
        view["max_output_tokens"] = cap
    return view


def headers_for(started: float) -> dict[str, str]:
    return {
        "x-gemini-service-tier": "standard",
        "server-timing": f"gfet4t7; dur={max(1, int((time.perf_counter() - started) * 1000))}",
        "vary": "Origin, X-Origin, Referer",
    }


def split_target(target: str) -> tuple[str, str] | None:
    """``gemini-2.5-flash:generateContent`` -> (model, method), or ``None`` for another method."""
    model, sep, method = target.rpartition(":")
    return (model, method) if sep and model and method in _METHODS else None


async def gemini_response(
    request: Request,
    model: str,
    method: str,
    body: dict[str, Any],
    headers: dict[str, str],
    cut: Callable[[bytes, int, dict[str, str]], Response],
) -> Response:
    """The answer to a well-formed, keyed Gemini request (knobs from its ``x-fake-*`` headers)."""
    lowered = {k.lower(): v for k, v in request.headers.items()}
    try:
        knobs = knobs_from_request(request_view(model, body), lowered)
        tool_prompt = _tool_prompt(lowered)
    except KnobError as exc:
        return JSONResponse(error_body(GOOGLE, 400, str(exc)), status_code=400, headers=headers)
    if knobs.delay_ms:
        await asyncio.sleep(knobs.delay_ms / 1000)
    if knobs.error_status is not None:
        status = knobs.error_status
        return JSONResponse(
            error_body(GOOGLE, status, f"fake provider: forced HTTP {status}"), status, headers
        )
    if method in ("embedContent", "batchEmbedContents"):
        return JSONResponse(embedding(body), headers=headers)
    if method == "streamGenerateContent":
        chunks = stream_chunks(knobs, body, tool_prompt)
        if request.query_params.get("alt") != "sse":  # without alt=sse Google streams one JSON array
            return JSONResponse(list(chunks), headers=headers)
        return StreamingResponse(
            _aiter(_sse(chunks)),
            media_type="text/event-stream",
            headers={**headers, "cache-control": "no-cache"},
        )
    payload = generate(knobs, body, tool_prompt)
    if knobs.cut_body is not None:
        return cut(json.dumps(payload).encode(), knobs.cut_body, headers)
    return JSONResponse(payload, headers=headers)


def _tool_prompt(headers: dict[str, str]) -> int:
    raw = headers.get("x-fake-tool-use-prompt-tokens", "0")
    if not raw.isdigit():
        raise KnobError(f"header x-fake-tool-use-prompt-tokens must be a non-negative integer, got {raw!r}")
    return int(raw)


__all__ = ["gemini_response", "headers_for", "split_target"]
