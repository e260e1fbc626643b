"""Relaying a provider's SSE stream: bytes out as they come in, usage read on the side.

Without usage stripping, every upstream chunk is passed on unchanged the
moment it arrives. When the gateway itself asked an OpenAI stream for usage
(``stream_options.include_usage``) that the client did not ask for, it passes
on whole events instead, dropping the extra usage chunk and the ``"usage":null``
fields that option adds, so the client sees what it would have seen directly.
"""

from __future__ import annotations

import re

from costtrail.gateway.routes import ANTHROPIC
from costtrail.gateway.sse import SseEvent, SseSplitter
from costtrail.gateway.usage import AnthropicStream, OpenAIStream, Usage

_NULL_USAGE = re.compile(rb',"usage":\s?null|"usage":\s?null,')


def _is_usage_chunk(event: SseEvent) -> bool:
    return b'"choices":[]' in event.data.replace(b" ", b"") and b'"usage"' in event.data


class StreamRelay:
    """Feed upstream chunks, get the bytes to send on; ``usage`` holds what was reported so far."""

    def __init__(self, provider: str, *, strip_usage: bool = False) -> None:
        self._reader = AnthropicStream() if provider == ANTHROPIC else OpenAIStream()
        self._splitter = SseSplitter()
        self._strip = strip_usage

    @property
    def usage(self) -> Usage:
        return self._reader.usage

    def feed(self, chunk: bytes) -> bytes:
        events = self._splitter.feed(chunk)
        for event in events:
            self._reader.feed(event)
        if not self._strip:
            return chunk
        return b"".join(self._rewrite(e) for e in events)

    def close(self) -> bytes:
        events = self._splitter.close()
        for event in events:
            self._reader.feed(event)
        if not self._strip:
            return b""  # the tail's bytes were already passed on with their chunk
        return b"".join(self._rewrite(e) for e in events)

    @staticmethod
    def _rewrite(event: SseEvent) -> bytes:
        if _is_usage_chunk(event):
            return b""
        return _NULL_USAGE.sub(b"", event.raw)
