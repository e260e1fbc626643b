"""Reading a server-sent-event stream chunk by chunk, as it passes through, without slowing it.

:class:`StreamReading` is fed the stream's bytes as they arrive and returns
the bytes to pass on: the same chunk, untouched, unless it was asked to hide
the usage that a door added to an OpenAI stream itself
(``stream_options.include_usage``), in which case it passes on whole events
without the extra usage chunk and the ``"usage":null`` fields, so the client
sees what it would have seen directly. Only events that may carry usage,
identity, a tool call or an error are decoded; text deltas are only counted.
A reading that fails inside never breaks the stream: the bytes pass on and
the call records as incomplete.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from costtrail.wire.bodies import (
    ANTHROPIC_TOOL_BLOCKS,
    apply_response,
    chat_tool_type,
    error_type,
    is_code_execution,
)
from costtrail.wire.flavors import ANTHROPIC, GOOGLE, RESPONSES, Flavor
from costtrail.wire.gemini import apply_gemini
from costtrail.wire.reading import CLIENT_ABANDONED, STREAM_CUT, Reading, tier_of
from costtrail.wire.sse import SseEvent, SseSplitter

log = logging.getLogger("costtrail.wire")

_NULL_USAGE = re.compile(rb',"usage":\s?null|"usage":\s?null,')
_TYPE = re.compile(rb'"type"\s*:\s*"([^"]+)"')
# Chat/completions chunks worth decoding: usage, an error or a tool call (text deltas are not).
_CHAT_MARKERS = (b'"usage":{', b'"usage": {', b'"error"', b'"tool_calls"')
_RESPONSES_PARSED = frozenset(
    {
        "response.created",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.output_item.added",
        "error",
    }
)
_RESPONSES_FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class StreamReading:
    """Feed upstream chunks, get the bytes to pass on; :attr:`reading` holds what the stream said so far.

    >>> from costtrail.wire.flavors import MESSAGES
    >>> s = StreamReading(MESSAGES)
    >>> _ = s.feed(b'event: message_stop\\ndata: {"type":"message_stop"}\\n\\n')
    >>> s.reading.complete
    True
    """

    def __init__(self, flavor: Flavor, *, strip_usage: bool = False) -> None:
        self.flavor = flavor
        self.reading = Reading()
        self.broken = False
        self._splitter = SseSplitter()
        self._strip = strip_usage
        self._usage: dict[str, Any] = {}  # Anthropic: usage merged over message_start and message_delta
        self._calls: set[tuple[Any, Any]] = set()  # chat: (choice index, tool call index)
        self._first = True
        if flavor.provider == ANTHROPIC:
            self._on_event = self._anthropic
        elif flavor is RESPONSES:
            self._on_event = self._responses
        elif flavor.provider == GOOGLE:
            self._on_event = self._gemini
        else:
            self._on_event = self._chat

    def feed(self, chunk: bytes) -> bytes:
        """Read one upstream chunk; returns what to pass on (``chunk`` itself unless stripping)."""
        if self.broken:
            return chunk
        held = self._splitter.pending
        try:
            events = self._splitter.feed(chunk)
            for event in events:
                self._on_event(event)
            if not self._strip:
                return chunk
            return b"".join(self._rewrite(e) for e in events)
        except Exception:
            self._break()
            return held + chunk if self._strip else chunk

    def close(self) -> bytes:
        """The upstream ended: read the unterminated last event; a stream without its end is cut."""
        tail = b""
        if not self.broken:
            try:
                events = self._splitter.close()
                for event in events:
                    self._on_event(event)
                if self._strip:
                    tail = b"".join(self._rewrite(e) for e in events)
            except Exception:
                self._break()
        self.end(STREAM_CUT)
        return tail

    def end(self, reason: str) -> None:
        """The stream stopped before its terminal event (``stream_cut``, ``client_abandoned``...)."""
        if not self.reading.complete and self.reading.ended_by is None:
            self.reading.ended_by = reason

    def abandon(self) -> None:
        """The client stopped reading before the end."""
        self.end(CLIENT_ABANDONED)

    def _break(self) -> None:
        self.broken = True
        self.reading.complete = False
        log.warning(
            "costtrail: a %s stream could not be read; bytes passed through", self.flavor.name, exc_info=True
        )

    @staticmethod
    def _rewrite(event: SseEvent) -> bytes:
        data = event.data
        if b'"usage"' in data and b'"choices":[]' in data.replace(b" ", b""):
            return b""
        return _NULL_USAGE.sub(b"", event.raw)

    # -- OpenAI chat/completions chunks ---------------------------------------

    def _chat(self, event: SseEvent) -> None:
        data = event.data
        if not data:
            return
        reading = self.reading
        if data == b"[DONE]":
            reading.complete = True
            return
        if not (self._first or any(marker in data for marker in _CHAT_MARKERS)):
            reading.deltas_seen += 1
            return
        body = _decode(data)
        if body is None:
            return
        if self._first:
            self._first = False
            apply_identity(reading, body)
            reading.service_tier = tier_of(body.get("service_tier"))
        if body.get("error"):
            reading.error_type = error_type(body)
            return
        choices = body.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, Mapping):
                continue
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, Mapping) else None
            for call in calls if isinstance(calls, list) else ():
                if not isinstance(call, Mapping):
                    continue
                key = (choice.get("index"), call.get("index"))
                if key not in self._calls:
                    self._calls.add(key)
                    reading.add_tool_call(chat_tool_type(call.get("type")))
        if choices:
            reading.deltas_seen += 1
        usage = self.flavor.usage.read(body.get("usage"))
        if usage is not None:
            reading.set_usage(usage)
            reading.complete = True  # the usage chunk is the last that matters; [DONE] may not follow
            reading.service_tier = tier_of(body.get("service_tier")) or reading.service_tier

    # -- OpenAI Responses events ------------------------------------------------

    def _responses(self, event: SseEvent) -> None:
        name = event.name or _type_of(event.data)
        if name not in _RESPONSES_PARSED:
            if name.endswith(".delta"):
                self.reading.deltas_seen += 1
            return
        body = _decode(event.data)
        if body is None:
            return
        reading = self.reading
        if name == "error":
            reading.error_type = error_type(body)
            return
        if name == "response.output_item.added":
            item = body.get("item")
            kind = item.get("type") if isinstance(item, Mapping) else None
            if isinstance(kind, str) and kind.endswith("_call"):
                reading.add_tool_call(kind)  # provisional: the final response lists them all
            return
        response = body.get("response")
        if not isinstance(response, Mapping):
            return
        if name in _RESPONSES_FINAL:
            reading.tool_calls = {}
            apply_response(self.flavor, reading, response)
            reading.complete = True
            if name == "response.failed" and not reading.error_type:
                reading.error_type = "response_failed"
        else:
            apply_identity(reading, response)
            reading.service_tier = tier_of(response.get("service_tier"))

    # -- Gemini streamGenerateContent chunks (alt=sse: each event a whole response so far) ----------

    def _gemini(self, event: SseEvent) -> None:
        body = _decode(event.data) if event.data else None
        if body is None:
            return
        if body.get("candidates"):
            self.reading.deltas_seen += 1
        apply_gemini(self.flavor.usage, self.reading, body)

    # -- Anthropic Messages events ------------------------------------------------

    def _anthropic(self, event: SseEvent) -> None:
        name = event.name or _type_of(event.data)
        reading = self.reading
        if name == "content_block_delta":
            reading.deltas_seen += 1
            return
        if name == "message_stop":
            reading.complete = True
            return
        if name not in ("message_start", "message_delta", "content_block_start", "error"):
            return
        body = _decode(event.data)
        if body is None:
            return
        if name == "message_start":
            message = body.get("message")
            if isinstance(message, Mapping):
                apply_identity(reading, message)
                self._merge(message.get("usage"))
        elif name == "message_delta":
            self._merge(body.get("usage"))
        elif name == "content_block_start":
            block = body.get("content_block")
            kind = block.get("type") if isinstance(block, Mapping) else None
            if kind in ANTHROPIC_TOOL_BLOCKS:
                reading.add_tool_call(str(kind))
                reading.code_executions += is_code_execution(block)
        else:
            reading.error_type = error_type(body)

    def _merge(self, usage: Any) -> None:
        if not isinstance(usage, Mapping):
            return
        self._usage.update({k: v for k, v in usage.items() if v is not None})
        values = self.flavor.usage.read(self._usage)
        if values is not None:
            self.reading.set_usage(values)
        self.reading.service_tier = tier_of(self._usage.get("service_tier"))


def apply_identity(reading: Reading, data: Mapping[str, Any]) -> None:
    model, rid = data.get("model"), data.get("id")
    if isinstance(model, str) and model:
        reading.model = model
    if isinstance(rid, str) and rid:
        reading.request_id = rid


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _type_of(data: bytes) -> str:
    found = _TYPE.search(data[:120])
    return found.group(1).decode("utf-8", "replace") if found else ""
