"""The gateway's connections to the provider: a small HTTP/1.1 keep-alive pool on asyncio and httptools.

Priced calls (one POST each) go through :class:`UpstreamPool`: the request
leaves in one socket write, the response is parsed by httptools as it arrives
and handed on chunk by chunk (an SSE stream is never buffered), and the
connection goes back to the pool when the response has ended. On this path
httpx's per-request machinery (models, pool bookkeeping, anyio locks and
cancel scopes) cost more than the proxying itself; see docs/gateway.md.

What it keeps from a full client: connect and read timeouts (read = the
longest wait for the next bytes), TLS with httpx's trust store, chunked and
length-delimited bodies, one retry on a fresh connection when a reused
keep-alive connection turns out to be closed before any response byte
arrived, and errors as httpx's exception types (so the proxy maps them to
502/504 the same way). Anything else (other methods, proxies from the
environment) stays on httpx: see :func:`lean_path_for`.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools
import httpx

from costtrail.gateway.config import GatewayConfig

READ_HIGH = 1024 * 1024  # response bytes waiting for the proxy before reading from the socket pauses
READ_LOW = 256 * 1024
MAX_IDLE = 256  # idle keep-alive connections kept per upstream


class PricedUpstream(Protocol):
    """What carries the priced POSTs: :class:`UpstreamPool` by default (bench/bench_gateway.py
    measures it against the maintained clients through this seam)."""

    async def post(self, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class ResponseHeaders:
    """The response's headers as received: ``raw`` (name, value) pairs and a case-insensitive ``get``."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in self.raw:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return default


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One keep-alive connection; serves one response at a time."""

    def __init__(self, pool: UpstreamPool, origin: str) -> None:
        self.pool, self.origin = pool, origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.received = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.read_paused = False

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            self._close()
        self._wake()

    def eof_received(self) -> bool:
        self._close()
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()

    # -- httptools callbacks ---------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > READ_HIGH and self.transport is not None and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.complete = True
        # Asked here: once this callback returns, the parser has reset for the next message.
        self.keep_alive = self.parser.should_keep_alive()

    # -- used by the pool and the response --------------------------------------

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def wait(self, timeout: float) -> None:
        """Until something arrives (or the connection ends); httpx.ReadTimeout after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        handle = loop.call_later(timeout, _expire, self.waiter)
        try:
            await self.waiter
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no answer from {self.origin} within {timeout:g} s") from exc
        finally:
            handle.cancel()
            self.waiter = None

    def take_body(self) -> bytes:
        """All body bytes received so far (one piece per network read, joined when several)."""
        data = self.body.popleft() if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self.read_paused and self.buffered < READ_LOW and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()
        return data

    def ends_on_close(self) -> bool:
        """A response with neither length nor chunking: its body ends when the server closes."""
        names = {k.lower() for k, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


class UpstreamResponse:
    """A response being received: ``status_code``, ``headers``, ``aiter_raw()``, ``aclose()``."""

    def __init__(self, conn: _Connection, timeout: float) -> None:
        self._conn, self._timeout = conn, timeout
        self.status_code = conn.status
        self.headers = ResponseHeaders(conn.headers)
        self._done = False

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives (de-chunked, not decompressed): whatever came since the last piece."""
        conn = self._conn
        while True:
            if conn.body:
                yield conn.take_body()
                continue
            if conn.complete:
                break
            if conn.closed:
                if conn.error is None and conn.ends_on_close():
                    break
                raise httpx.RemoteProtocolError(
                    f"{conn.origin} closed the connection in the middle of a response ({conn.error!r})"
                )
            await conn.wait(self._timeout)
        await self.aclose()

    async def aclose(self) -> None:
        """Give the connection back (a complete response) or close it (one cut short)."""
        if self._done:
            return
        self._done = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.body and not conn.closed:
            self._conn.pool.release(conn)
        else:
            conn._close()


class UpstreamPool:
    """Keep-alive HTTP/1.1 connections to the upstreams, for the gateway's priced POSTs.

    In the gateway's event loop::

        pool = UpstreamPool(connect_timeout=10, read_timeout=600)
        response = await pool.post("http://127.0.0.1:8799/v1/chat/completions", headers, body)
    """

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._idle: dict[str, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def post(self, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> UpstreamResponse:
        """Send ``POST url`` and return once the response's headers arrived."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = f"{parts.scheme}://{host}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"POST {target} HTTP/1.1\r\nhost: {parts.netloc}\r\n".encode("latin-1")]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-length: %d\r\n\r\n" % len(body))
        request = b"".join(head) + body
        conn = self._idle_connection(origin)
        if conn is not None:
            response = await self._exchange(conn, request, reused=True)
            if response is not None:
                return response
            # The reused connection was closed by the server before answering: once more, fresh.
        conn = await self._connect(origin, parts.scheme, host, port)
        response = await self._exchange(conn, request, reused=False)
        assert response is not None  # a fresh connection raises instead
        return response

    def release(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) < MAX_IDLE:
            conn._reset()
            idle.append(conn)
        else:
            conn._close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn._close()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports' close callbacks run before a loop that stops next

    def _idle_connection(self, origin: str) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.body and conn.received == 0:
                return conn
            conn._close()  # closed by the server while idle, or bytes nobody asked for
        return None

    async def _connect(self, origin: str, scheme: str, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            tls = self._ssl
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self, origin),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {origin} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {origin}: {exc}") from exc
        return conn

    async def _exchange(self, conn: _Connection, request: bytes, *, reused: bool) -> UpstreamResponse | None:
        """Write the request, wait for the response head; None when a reused connection closed unused."""
        assert conn.transport is not None
        conn.transport.write(request)
        try:
            while not conn.headers_done:
                if conn.closed:
                    conn._close()
                    if reused and conn.received == 0:
                        return None
                    raise httpx.RemoteProtocolError(
                        f"{conn.origin} closed the connection without a complete response head "
                        f"({conn.error!r})"
                    )
                await conn.wait(self.read_timeout)
        except BaseException:
            conn._close()
            raise
        return UpstreamResponse(conn, self.read_timeout)


def lean_path_for(url: str) -> bool:
    """Whether calls to ``url`` may use :class:`UpstreamPool`: not when the environment names a proxy
    for it (``HTTPS_PROXY`` ... and not in ``NO_PROXY``), which httpx honours and the pool does not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname or ""))


def upstream_client(config: GatewayConfig) -> httpx.AsyncClient:
    """The httpx client for what the pool does not carry (pass-through paths, proxied upstreams)."""
    timeout = httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    return httpx.AsyncClient(timeout=timeout, limits=limits, http2=False)


def upstream_pool(config: GatewayConfig) -> UpstreamPool:
    """The pool for priced calls, with the config's timeouts."""
    return UpstreamPool(connect_timeout=config.connect_timeout_s, read_timeout=config.read_timeout_s)


__all__ = [
    "PricedUpstream",
    "ResponseHeaders",
    "UpstreamPool",
    "UpstreamResponse",
    "lean_path_for",
    "upstream_client",
]
