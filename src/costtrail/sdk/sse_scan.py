"""Reading usage out of server-sent-event streams as they pass through, without slowing them.

The scanner re-cuts the byte stream at event boundaries (the SDK's own SSE
decoder needs whole events anyway), looks at each event's first bytes, and
decodes JSON only for the few events that carry usage, tool calls or errors.
For an OpenAI stream where costtrail added ``stream_options.include_usage``,
it drops the extra usage-only chunk so the caller sees what they asked for.
Any internal failure switches scanning off and passes the bytes through untouched.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from costtrail.sdk.calls import Call
from costtrail.sdk.usage import anthropic_usage, openai_response_fields, openai_usage, service_tier

log = logging.getLogger("costtrail.sdk")

_HEAD = 96


def _event_end(buf: bytes, start: int) -> tuple[int, int]:
    """(index, separator length) of the blank line ending the event at ``start``, or (-1, 0)."""
    lf = buf.find(b"\n\n", start)
    crlf = buf.find(b"\r\n\r\n", start)
    if crlf != -1 and (lf == -1 or crlf < lf):
        return crlf, 4
    return (lf, 2) if lf != -1 else (-1, 0)


def event_data(block: bytes) -> Any:
    """The decoded JSON ``data:`` of one SSE event (``None`` for ``[DONE]`` or no data)."""
    parts = []
    for line in block.splitlines():
        if line.startswith(b"data:"):
            parts.append(line[5:].strip())
    if not parts:
        return None
    raw = b"\n".join(parts)
    if raw == b"[DONE]":
        return None
    return json.loads(raw)


class StreamReader:
    """Per wire format: which events matter and what they say. ``keep`` False hides an event."""

    complete = False
    error: str | None = None

    def __init__(self, call: Call) -> None:
        self.call = call

    def keep(self, block: bytes) -> bool:
        raise NotImplementedError


class OpenAIChunkReader(StreamReader):
    """``chat.completion.chunk`` / ``text_completion`` streams."""

    _first = True

    def keep(self, block: bytes) -> bool:
        if b"[DONE]" in block[:_HEAD]:
            self.complete = True
            return True
        interesting = b'"usage":{' in block or b'"usage": {' in block or b'"tool_calls"' in block
        if not (interesting or self._first or b'"error"' in block):
            return True
        data = event_data(block)
        if not isinstance(data, dict):
            return True
        call = self.call
        if self._first:
            self._first = False
            call.update({"model": data.get("model"), "service_tier": service_tier(data.get("service_tier"))})
        if data.get("error"):
            err = data["error"]
            self.error = (
                str(err.get("type") or err.get("code") or "stream_error")
                if isinstance(err, dict)
                else "stream_error"
            )
            return True
        choices = data.get("choices") or []
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            for tool_call in (delta or {}).get("tool_calls") or ():
                if isinstance(tool_call, dict) and tool_call.get("id"):
                    call.fields["tool_calls"] = call.fields.get("tool_calls", 0) + 1
        usage = data.get("usage")
        if usage:
            call.update(openai_usage(usage))
            call.update({"model": data.get("model")})
            self.complete = True
            if call.hide_usage_chunk and not choices:
                return False
        return True


class OpenAIResponsesReader(StreamReader):
    """The Responses API event stream (usage arrives in ``response.completed``)."""

    _FINAL = (b"response.completed", b"response.incomplete", b"response.failed")

    def keep(self, block: bytes) -> bool:
        head = block[:_HEAD]
        final = any(name in head for name in self._FINAL)
        if not (final or b"error" in head or b"response.created" in head):
            return True
        data = event_data(block)
        if not isinstance(data, dict):
            return True
        kind = data.get("type")
        response = data.get("response")
        if kind == "error":
            self.error = str(data.get("code") or "stream_error")
        elif isinstance(response, dict):
            self.call.update(openai_response_fields(response))
            if final:
                self.complete = True
                if kind == "response.failed":
                    error = response.get("error") or {}
                    self.error = (
                        str(error.get("code") or "response_failed") if isinstance(error, dict) else "failed"
                    )
        return True


class AnthropicReader(StreamReader):
    """Anthropic events: ``message_start`` has input and cache usage, ``message_delta`` the output."""

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.usage: dict[str, Any] = {}

    def keep(self, block: bytes) -> bool:
        head = block[:_HEAD]
        if b"message_stop" in head:
            self.complete = True
            return True
        start, delta = b"message_start" in head, b"message_delta" in head
        tool = b"content_block_start" in head and b"tool_use" in block
        if not (start or delta or tool or b"error" in head):
            return True
        data = event_data(block)
        if not isinstance(data, dict):
            return True
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message") or {}
            self._merge(message.get("usage"))
            self.call.update({"model": message.get("model")})
        elif kind == "message_delta":
            self._merge(data.get("usage"))
        elif kind == "content_block_start":
            block_type = (data.get("content_block") or {}).get("type")
            if block_type in ("tool_use", "server_tool_use"):
                self.call.fields["tool_calls"] = self.call.fields.get("tool_calls", 0) + 1
        elif kind == "error":
            error = data.get("error") or {}
            self.error = (
                str(error.get("type") or "stream_error") if isinstance(error, dict) else "stream_error"
            )
        return True

    def _merge(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        self.usage.update({k: v for k, v in usage.items() if v is not None})
        fields: dict[str, Any] = anthropic_usage(self.usage)
        fields["service_tier"] = service_tier(self.usage.get("service_tier"))
        self.call.fields.update(fields)


def reader_for(provider: str, endpoint: str, call: Call) -> StreamReader:
    if provider == "anthropic":
        return AnthropicReader(call)
    if endpoint == "responses":
        return OpenAIResponsesReader(call)
    return OpenAIChunkReader(call)


class SSEScanner:
    """Feeds a stream's bytes through a reader and finishes the call when the stream ends or closes."""

    def __init__(self, call: Call, reader: StreamReader) -> None:
        self.call, self.reader = call, reader
        self.buf = b""
        self.disabled = False
        self.failed: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self.disabled:
            return chunk
        buf = self.buf + chunk if self.buf else chunk
        out: list[bytes] = []
        pos = 0
        try:
            while True:
                end, sep = _event_end(buf, pos)
                if end < 0:
                    break
                block = buf[pos : end + sep]
                if self.reader.keep(block):
                    out.append(block)
                pos = end + sep
            self.buf = buf[pos:]
        except Exception:
            self._disable()
            return b"".join(out) + buf[pos:]
        return b"".join(out)

    def end(self) -> bytes:
        """The upstream ended: pass on whatever is left."""
        tail, self.buf = self.buf, b""
        if tail and not self.disabled:
            try:
                if not self.reader.keep(tail):
                    tail = b""
            except Exception:
                self._disable()
        return tail

    def abort(self, exc: BaseException) -> None:
        self.failed = type(exc).__name__

    def closed(self) -> None:
        """The stream was closed (read to the end, or abandoned): emit the call's event."""
        try:
            reader = self.reader
            if not reader.complete and not self.disabled:
                self.call.attributes["stream_complete"] = "false"
            if self.failed or reader.error:
                status = "timeout" if self.failed and "Timeout" in self.failed else "error"
                self.call.finish(status, self.failed or reader.error)
            else:
                self.call.finish("success")
        except Exception:
            log.warning("costtrail: could not finish a streamed call", exc_info=True)

    def _disable(self) -> None:
        self.disabled = True
        self.buf = b""
        log.warning(
            "costtrail: stream scanning switched off for one call; bytes passed through", exc_info=True
        )
