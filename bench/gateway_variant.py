"""The gateway as ``costtrail gateway`` serves it, but with a maintained client for priced calls.

``python -m bench.gateway_variant httpx|httpcore --port P --upstream URL --ledger PATH``: the
same app, server options and ledger sink as the CLI; only what carries the priced POSTs to the
upstream differs (``UpstreamPool`` in the CLI). bench_gateway.py runs these beside the CLI's
gateway so the comparison of issue #17 (keep the hand-written pool only if a library costs more
than 10% of throughput or 0.1 ms of added p50) is measured in one run.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpcore
import httpx
import uvicorn

from costtrail.cli.gateway_cmds import build_sink
from costtrail.gateway import GatewayConfig, create_gateway_app, parse_upstreams
from costtrail.gateway.serving import server_options
from costtrail.gateway.upstream import ResponseHeaders
from costtrail.settings import Settings


class HttpcoreAnswer:
    """An httpcore response in the shape the gateway relays (status_code, headers, aiter_raw, aclose)."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = ResponseHeaders(list(response.headers))

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_stream():
                yield chunk
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc)) from exc
        except httpcore.ProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except httpcore.NetworkError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpcorePool:
    """Priced POSTs through ``httpcore.AsyncConnectionPool`` (httpx's own transport, without its models)."""

    def __init__(self, config: GatewayConfig) -> None:
        self._pool = httpcore.AsyncConnectionPool(max_connections=1000, max_keepalive_connections=256)
        self._timeouts = {
            "connect": config.connect_timeout_s,
            "read": config.read_timeout_s,
            "write": config.read_timeout_s,
            "pool": config.connect_timeout_s,
        }

    async def post(self, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> HttpcoreAnswer:
        host = urlsplit(url).netloc.encode()
        request = httpcore.Request(
            "POST",
            url,
            headers=[(b"host", host), *headers, (b"content-length", str(len(body)).encode())],
            content=body,
            extensions={"timeout": self._timeouts},
        )
        try:
            response = await self._pool.handle_async_request(request)
        except httpcore.ConnectTimeout as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc)) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return HttpcoreAnswer(response)

    async def aclose(self) -> None:
        await self._pool.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=["httpx", "httpcore"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="openai=URL")
    parser.add_argument("--ledger", required=True)
    args = parser.parse_args()
    config = GatewayConfig(upstreams=parse_upstreams([args.upstream]))
    settings = Settings.from_env(ledger=args.ledger)
    sink = build_sink(None, None, args.ledger, None)
    if args.client == "httpx":
        timeout = httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s)
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=256)
        client = httpx.AsyncClient(timeout=timeout, limits=limits)
        app = create_gateway_app(settings, config, sink=sink, client=client)
    else:
        app = create_gateway_app(settings, config, sink=sink, pool=HttpcorePool(config))  # type: ignore[arg-type]
    try:
        # Served as `costtrail gateway` serves it (gateway.server.serve), with this variant's app.
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            server_header=False,
            date_header=False,
            **server_options(),
        )
    finally:
        sink.close(timeout=10)


if __name__ == "__main__":
    main()
