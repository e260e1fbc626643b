"""Serving the gateway: uvicorn on uvloop and httptools when installed, one send per response.

uvicorn writes a response's status line and headers, then its body, as two
socket sends. :class:`CoalescingTransport` holds what the server writes until
the end of the current event-loop iteration and sends it as one write, so a
non-streaming response leaves in one send (and wakes the client once). A
streamed response is not held back: each chunk goes out in the same loop
iteration it was written, after the callbacks already queued.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

try:  # httptools' parser when installed; uvicorn's pure-Python h11 one otherwise
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _ServerProtocol
except ImportError:  # pragma: no cover - httptools is a dependency, but optional to uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol as _ServerProtocol  # type: ignore[assignment]


class CoalescingTransport(asyncio.Transport):
    """A transport that joins the writes of one loop iteration into one ``write`` of the real one."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner, self._loop = inner, loop
        self._pending: list[bytes] = []

    def _flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            if not self._inner.is_closing():
                self._inner.write(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        self._flush()  # what was written goes out before the FIN
        self._inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self._inner.abort()

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._flush()
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(len(d) for d in self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)


class CoalescingHttpProtocol(_ServerProtocol):
    """uvicorn's HTTP/1.1 protocol writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, asyncio.get_running_loop()))


def server_options() -> dict[str, Any]:
    """uvicorn options for serving the gateway: uvloop if installed (else asyncio), coalesced writes.

    >>> sorted(server_options())
    ['http', 'loop']

    Then ``uvicorn.run(app, port=8788, **server_options())``, as :func:`costtrail.gateway.server.serve` does.
    """
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return {"loop": loop, "http": CoalescingHttpProtocol}


def serving_stack() -> str:
    """What :func:`server_options` serves with, for the start-up line (``uvloop + httptools``)."""
    loop = server_options()["loop"]
    parser = "httptools" if _ServerProtocol.__module__.endswith("httptools_impl") else "h11"
    return f"{loop} + {parser}"
