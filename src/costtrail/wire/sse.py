"""Splitting a server-sent-event byte stream into events as the bytes arrive.

Chunks from the network do not respect event boundaries; :class:`SseSplitter`
keeps only the unfinished tail between calls, so memory stays bounded by one
event whatever the stream's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@dataclass(frozen=True)
class SseEvent:
    """One event: its raw bytes (boundary included), ``event:`` name and joined ``data:`` lines."""

    raw: bytes
    name: str
    data: bytes


def parse_event(raw: bytes) -> SseEvent:
    name = ""
    data: list[bytes] = []
    for line in raw.splitlines():
        if line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode("utf-8", "replace")
    return SseEvent(raw=raw, name=name, data=b"\n".join(data))


class SseSplitter:
    """Feed bytes, get the complete events they finish (the rest waits for the next chunk)."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buffer = self._tail + chunk if self._tail else chunk
        events: list[SseEvent] = []
        start = 0
        for match in _BOUNDARY.finditer(buffer):
            events.append(parse_event(buffer[start : match.end()]))
            start = match.end()
        self._tail = buffer[start:]
        return events

    @property
    def pending(self) -> bytes:
        """The bytes of the unfinished event held back so far."""
        return self._tail

    def close(self) -> list[SseEvent]:
        """The last event when the stream ended without a blank line."""
        tail, self._tail = self._tail, b""
        return [parse_event(tail)] if tail.strip() else []
