"""AWS Bedrock runtime wire format: Converse, ConverseStream, InvokeModel and its response stream.

boto3's ``bedrock-runtime`` client talks to these routes unchanged with
``endpoint_url=`` and any credentials (the SigV4 signature is not checked,
but a request without one is refused as AWS does):

- ``POST /model/{modelId}/converse`` and ``/converse-stream``: Converse JSON, or its events
  (``messageStart``, ``contentBlockDelta``..., ``messageStop``, ``metadata`` with usage);
- ``POST /model/{modelId}/invoke`` and ``/invoke-with-response-stream``: the model family's own
  body (Anthropic Messages, Meta Llama, Mistral, Amazon Nova, Titan text, Titan embeddings), with
  the ``x-amzn-bedrock-*-token-count`` headers; streamed as ``chunk`` events whose base64
  ``bytes`` are the family's chunks, the last carrying ``amazon-bedrock-invocationMetrics``.

Streams use Bedrock's binary ``application/vnd.amazon.eventstream`` framing (:func:`frame`):
a prelude (total and headers length, CRC32), typed headers (``:event-type``,
``:message-type``...), a JSON payload and the message's CRC32. Errors carry
``x-amzn-errortype`` as AWS sends it, so botocore raises its own exception classes.
The ``x-fake-*`` knobs apply (boto3 has no ``extra_headers``: a test adds them in a
``before-sign`` event handler); ``x-fake-cut-body: N`` also cuts a stream after N bytes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from costtrail.demo.fake_provider import anthropic_wire
from costtrail.demo.fake_provider.knobs import KnobError, Knobs, knobs_from_request, output_words, text_pieces

EVENTSTREAM = "application/vnd.amazon.eventstream"
METRICS_KEY = "amazon-bedrock-invocationMetrics"
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_PROFILES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.", "in.")


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude + CRC, string headers, payload, message CRC (all big-endian)."""
    head = b"".join(
        struct.pack(">B", len(k)) + k.encode() + struct.pack(">BH", 7, len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", binascii.crc32(body))


def event(name: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(payload, separators=(",", ":")).encode())


def exception(name: str, message: str) -> bytes:
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())


def split_frames(data: bytes) -> list[bytes]:
    """A recorded event stream, one message a chunk (a torn last message is kept as it is)."""
    out, at = [], 0
    while at < len(data):
        total = struct.unpack(">I", data[at : at + 4])[0] if len(data) - at >= 4 else len(data) - at
        out.append(data[at : at + max(total, 1)])
        at += max(total, 1)
    return out


def family(model_id: str) -> str:
    """``anthropic``, ``meta``, ``mistral``, ``nova``, ``titan-embed``, ``titan-text`` or ``""``."""
    name = model_id.rsplit("/", 1)[-1]
    for prefix in _PROFILES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    for start, kind in (
        ("anthropic.", "anthropic"),
        ("meta.", "meta"),
        ("mistral.", "mistral"),
        ("amazon.nova", "nova"),
        ("amazon.titan-embed", "titan-embed"),
        ("amazon.titan-text", "titan-text"),
    ):
        if name.startswith(start):
            return kind
    return ""


# -- bodies ---------------------------------------------------------------------


def converse_usage(k: Knobs) -> dict[str, int]:
    return {
        "inputTokens": k.uncached_input_tokens,
        "outputTokens": k.output_tokens,
        "totalTokens": k.input_tokens + k.output_tokens,
        "cacheReadInputTokens": k.cached_tokens,
        "cacheWriteInputTokens": k.cache_write_tokens,
    }


def _content(k: Knobs) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"text": " ".join(output_words(k.visible_output_tokens))}]
    blocks += [
        {"toolUse": {"toolUseId": f"tooluse_{i:022d}", "name": k.tool_name, "input": {"query": f"q{i}"}}}
        for i in range(k.tool_calls)
    ]
    return blocks


def converse(k: Knobs) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": _content(k)}},
        "stopReason": "tool_use" if k.tool_calls else "end_turn",
        "usage": converse_usage(k),
        "metrics": {"latencyMs": 42},
    }


def converse_stream(k: Knobs) -> Iterator[bytes]:
    yield event("messageStart", {"role": "assistant"})
    for n, piece in enumerate(text_pieces(k.visible_output_tokens)):
        if k.stream_error_after is not None and n >= k.stream_error_after:
            yield exception("modelStreamErrorException", "fake provider: the model stream failed")
            return
        yield event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
    yield event("contentBlockStop", {"contentBlockIndex": 0})
    for i in range(k.tool_calls):
        start = {"toolUse": {"toolUseId": f"tooluse_{i:022d}", "name": k.tool_name}}
        yield event("contentBlockStart", {"contentBlockIndex": i + 1, "start": start})
        delta = {"toolUse": {"input": json.dumps({"query": f"q{i}"})}}
        yield event("contentBlockDelta", {"contentBlockIndex": i + 1, "delta": delta})
        yield event("contentBlockStop", {"contentBlockIndex": i + 1})
    yield event("messageStop", {"stopReason": "tool_use" if k.tool_calls else "end_turn"})
    yield event("metadata", {"usage": converse_usage(k), "metrics": {"latencyMs": 42}})


def invoke_body(kind: str, k: Knobs, body: dict[str, Any]) -> dict[str, Any]:
    """The model family's InvokeModel answer."""
    text = " ".join(output_words(k.visible_output_tokens))
    if kind == "anthropic":
        return {**anthropic_wire.message(k, body), "model": k.model.rsplit(".", 1)[-1].split("-v")[0]}
    if kind == "nova":
        usage = {
            "inputTokens": k.uncached_input_tokens,
            "outputTokens": k.output_tokens,
            "totalTokens": k.input_tokens + k.output_tokens,
            "cacheReadInputTokenCount": k.cached_tokens,
            "cacheWriteInputTokenCount": k.cache_write_tokens,
        }
        message = {"role": "assistant", "content": _content(k)}
        return {"output": {"message": message}, "stopReason": "end_turn", "usage": usage}
    if kind == "meta":
        return {
            "generation": text,
            "prompt_token_count": k.input_tokens,
            "generation_token_count": k.output_tokens,
            "stop_reason": "stop",
        }
    if kind == "mistral":
        return {"outputs": [{"text": text, "stop_reason": "stop"}]}
    if kind == "titan-embed":
        return {"embedding": [round(0.01 * i, 2) for i in range(16)], "inputTextTokenCount": k.input_tokens}
    result = {"tokenCount": k.output_tokens, "outputText": text, "completionReason": "FINISH"}
    return {"inputTextTokenCount": k.input_tokens, "results": [result]}


def _metrics(k: Knobs) -> dict[str, int]:
    return {
        "inputTokenCount": k.uncached_input_tokens,
        "outputTokenCount": k.output_tokens,
        "invocationLatency": 42,
        "firstByteLatency": 7,
    }


def _chunk(data: dict[str, Any]) -> bytes:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return event("chunk", {"bytes": base64.b64encode(raw).decode()})


def invoke_chunks(kind: str, k: Knobs, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The family's stream chunks (decoded); the caller adds the invocation metrics to the last."""
    pieces = text_pieces(k.visible_output_tokens)
    if kind == "anthropic":
        for raw in anthropic_wire.message_stream(k, body):
            data = raw.split(b"data: ", 1)[1].strip()
            yield json.loads(data)
        return
    if kind == "nova":
        yield {"messageStart": {"role": "assistant"}}
        for piece in pieces:
            yield {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        yield {"metadata": {"usage": invoke_body("nova", k, body)["usage"]}}
        return
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        if kind == "meta":
            yield {
                "generation": piece,
                "prompt_token_count": k.input_tokens if n == 0 else None,
                "generation_token_count": n + 1,
                "stop_reason": "stop" if last else None,
            }
        elif kind == "mistral":
            yield {"outputs": [{"text": piece, "stop_reason": "stop" if last else None}]}
        else:
            yield {
                "outputText": piece,
                "index": 0,
                "totalOutputTextTokenCount": k.output_tokens if last else n + 1,
                "completionReason": "FINISH" if last else None,
                "inputTextTokenCount": k.input_tokens if n == 0 else None,
            }


def invoke_stream(kind: str, k: Knobs, body: dict[str, Any]) -> Iterator[bytes]:
    chunks = list(invoke_chunks(kind, replace(k, stream_error_after=None), body))
    for n, data in enumerate(chunks):
        if k.stream_error_after is not None and n > k.stream_error_after:
            yield exception("modelStreamErrorException", "fake provider: the model stream failed")
            return
        if n == len(chunks) - 1:
            data = {**data, METRICS_KEY: _metrics(k)}
        yield _chunk(data)


# -- routes ---------------------------------------------------------------------


def _max_tokens(body: dict[str, Any]) -> int | None:
    for holder, key in (
        (body.get("inferenceConfig"), "maxTokens"),
        (body.get("textGenerationConfig"), "maxTokenCount"),
        (body, "max_gen_len"),
        (body, "max_tokens"),
    ):
        value = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def _knob_body(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The request in the names knobs_from_request reads (model, text fields, max_tokens)."""
    out: dict[str, Any] = {"model": model_id}
    for key in ("messages", "system", "prompt", "tools"):
        if key in body:
            out[key] = body[key]
    if "inputText" in body:
        out["input"] = body["inputText"]
    limit = _max_tokens(body)
    if limit is not None:
        out["max_tokens"] = limit
    return out


def _aws_headers() -> dict[str, str]:
    return {"x-amzn-requestid": f"{time.time_ns():032x}"[-32:]}


def _error(status: int, message: str, headers: dict[str, str]) -> Response:
    kind = _ERROR_TYPES.get(status, "InternalServerException")
    headers = {**headers, "x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return Response(json.dumps({"message": message}), status, headers=headers, media_type="application/json")


async def _frames(chunks: Iterator[bytes], cut: int | None) -> AsyncIterator[bytes]:
    sent = 0
    for chunk in chunks:
        if cut is not None and sent + len(chunk) > cut:
            if cut > sent:
                yield chunk[: cut - sent]
            return  # the rest never comes: a stream cut mid-message
        sent += len(chunk)
        yield chunk
        await asyncio.sleep(0)


def _attempt(headers: dict[str, str]) -> int:
    """botocore's attempt (``amz-sdk-request: attempt=2; max=3``) counted from 0."""
    for part in headers.get("amz-sdk-request", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "attempt" and value.isdigit():
            return int(value) - 1
    return 0


class BedrockRoutes:
    """The four Bedrock runtime operations over the shared request log and replays."""

    def __init__(self, log: Any, replays: dict[str, Any], record: Any) -> None:
        self.log, self.replays, self.record = log, replays, record

    def routes(self) -> list[Route]:
        return [
            Route(f"/model/{{model_id:path}}/{op}", self._handler(op), methods=["POST"])
            for op in ("converse", "converse-stream", "invoke", "invoke-with-response-stream")
        ]

    def _handler(self, op: str) -> Any:
        async def handle(request: Request) -> Response:
            return await self.handle(op, request)

        return handle

    async def handle(self, op: str, request: Request) -> Response:
        headers = _aws_headers()
        raw = await request.body()
        lowered = {k.lower(): v for k, v in request.headers.items()}
        model_id = unquote(request.path_params["model_id"])
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _error(400, "Malformed input request, please reformat your input and try again.", headers)
        if not isinstance(body, dict):
            return _error(400, "Malformed input request: the body must be a JSON object.", headers)
        self.record(request.url.path, lowered, body, len(raw))
        if not lowered.get("authorization"):
            return _error(403, "Missing Authentication Token", headers)
        if "x-fake-replay" in lowered:
            return self._replay(lowered["x-fake-replay"], op, headers)
        kind = family(model_id)
        if not kind:
            return _error(400, f"The provided model identifier is invalid: {model_id}", headers)
        try:
            knobs = knobs_from_request(_knob_body(model_id, body), {**lowered, **self._retry(lowered)})
        except KnobError as exc:
            return _error(400, str(exc), headers)
        if kind == "titan-embed":
            knobs = replace(knobs, output_tokens=0, reasoning_tokens=0, tool_calls=0)
        if kind not in ("anthropic", "nova"):  # no cache and no tools in these bodies
            knobs = replace(
                knobs, cached_tokens=0, cache_write_tokens=0, cache_write_1h_tokens=0, tool_calls=0
            )
        if knobs.delay_ms:
            await asyncio.sleep(knobs.delay_ms / 1000)
        if knobs.error_status is not None:
            return _error(knobs.error_status, f"fake provider: forced HTTP {knobs.error_status}", headers)
        return self._respond(op, kind, knobs, body, headers)

    @staticmethod
    def _retry(headers: dict[str, str]) -> dict[str, str]:
        return {"x-stainless-retry-count": str(_attempt(headers))}

    def _respond(
        self, op: str, kind: str, k: Knobs, body: dict[str, Any], headers: dict[str, str]
    ) -> Response:
        if op == "converse":
            return Response(json.dumps(converse(k)), headers=headers, media_type="application/json")
        if op == "converse-stream":
            return StreamingResponse(
                _frames(converse_stream(k), k.cut_body), headers=headers, media_type=EVENTSTREAM
            )
        if op == "invoke-with-response-stream":
            headers["x-amzn-bedrock-content-type"] = "application/json"
            stream = invoke_stream(kind, k, body)
            return StreamingResponse(_frames(stream, k.cut_body), headers=headers, media_type=EVENTSTREAM)
        headers.update(
            {
                "x-amzn-bedrock-input-token-count": str(k.uncached_input_tokens),
                "x-amzn-bedrock-output-token-count": str(k.output_tokens),
                "x-amzn-bedrock-invocation-latency": "42",
            }
        )
        answer = json.dumps(invoke_body(kind, k, body)).encode()
        if k.cut_body is not None:
            answer = answer[: k.cut_body]
        return Response(answer, headers=headers, media_type="application/json")

    def _replay(self, name: str, op: str, headers: dict[str, str]) -> Response:
        replay = self.replays.get(name)
        if replay is None or not replay.path.endswith("/" + op):
            return _error(400, f"x-fake-replay: no replay named {name!r} for {op}", headers)
        headers.update(replay.headers)
        if replay.content_type == EVENTSTREAM:
            frames = _frames(iter(split_frames(replay.body)), None)
            return StreamingResponse(frames, replay.status, headers=headers, media_type=EVENTSTREAM)
        return Response(replay.body, replay.status, headers=headers, media_type=replay.content_type)
