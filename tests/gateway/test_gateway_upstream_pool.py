"""The gateway's upstream pool against real HTTP servers on 127.0.0.1: keep-alive, retry, streams, errors."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from tests.gateway.conftest import MakeRig

from costtrail.demo.fake_provider import ServerThread
from costtrail.gateway.serving import server_options
from costtrail.gateway.upstream import UpstreamPool

HEADERS = [(b"content-type", b"application/json"), (b"authorization", b"Bearer sk-x")]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A plain asyncio HTTP server whose connection handling each test writes itself."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            finally:
                writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


async def test_keep_alive_reuse_and_exact_request() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(ok(b'{"n":%d}' % len(seen)))

    server = RawServer(handler)
    async with server as url:
        pool = UpstreamPool(connect_timeout=5, read_timeout=5)
        for n in (1, 2, 3):
            response = await pool.post(url + "?a=1", HEADERS, b'{"model":"m"}')
            body = b"".join([c async for c in response.aiter_raw()])
            assert (response.status_code, body) == (200, b'{"n":%d}' % n)
            assert response.headers.get("Content-Type") == "application/json"
        await pool.aclose()
    assert server.connections == 1
    head, body = seen[0]
    assert head.startswith(b"POST /v1/chat/completions?a=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\nauthorization: Bearer sk-x\r\n" in head and b"content-length: 13\r\n" in head
    assert body == b'{"model":"m"}'


async def test_a_keep_alive_connection_closed_by_the_server_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ok(b"{}"))
        await writer.drain()  # then close: the pool still holds this connection as idle

    server = RawServer(handler)
    async with server as url:
        pool = UpstreamPool(connect_timeout=5, read_timeout=5)
        for _ in range(3):
            response = await pool.post(url, HEADERS, b"{}")
            assert b"".join([c async for c in response.aiter_raw()]) == b"{}"
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        await pool.aclose()
    assert server.connections == 3


async def test_chunks_are_handed_on_as_they_arrive() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        writer.write(b"d\r\ndata: first\n\n\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"e\r\ndata: second\n\n\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as url:
        pool = UpstreamPool(connect_timeout=5, read_timeout=5)
        response = await pool.post(url, HEADERS, b"{}")
        chunks = response.aiter_raw()
        assert await chunks.__anext__() == b"data: first\n\n"  # before the server sent the rest
        release.set()
        assert [c async for c in chunks] == [b"data: second\n\n"]
        await pool.aclose()


async def test_timeouts_and_broken_responses_raise_httpx_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(1)

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    pool = UpstreamPool(connect_timeout=5, read_timeout=0.2)
    async with RawServer(silent) as url:
        with pytest.raises(httpx.ReadTimeout):
            await pool.post(url, HEADERS, b"{}")
    async with RawServer(cut) as url:
        response = await pool.post(url, HEADERS, b"{}")
        with pytest.raises(httpx.RemoteProtocolError):
            _ = [c async for c in response.aiter_raw()]
    async with RawServer(garbage) as url:
        with pytest.raises(httpx.RemoteProtocolError):
            await pool.post(url, HEADERS, b"{}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await pool.post(f"http://127.0.0.1:{closed_port}/v1/chat/completions", HEADERS, b"{}")
    await pool.aclose()


def test_a_stream_is_relayed_through_the_gateway_without_waiting_for_its_end(make_rig: MakeRig) -> None:
    """An upstream that holds its stream open after one event: the client gets that event meanwhile."""
    release = threading.Event()

    async def upstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first = {
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "hi"}}],
        }
        await send(
            {
                "type": "http.response.body",
                "body": f"data: {json.dumps(first)}\n\n".encode(),
                "more_body": True,
            }
        )
        await asyncio.to_thread(release.wait, 10)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    with ServerThread(upstream, **server_options()) as server:
        rig = make_rig(upstreams={"openai": server.base_url})
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [],
        }
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", rig.openai_url + "/chat/completions", json=body) as response,
        ):
            lines = response.iter_lines()
            assert next(lines).startswith("data: {")  # while the upstream still holds the stream open
            release.set()
            assert [line for line in lines if line] == ["data: [DONE]"]
