"""Running an ASGI app under uvicorn: in the foreground (the CLI) or on a background thread.

:class:`BackgroundServer` binds before it returns (port 0 picks a free port),
so callers can use ``server.url`` at once: tests, benchmarks and the demo use it.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM end ``uvicorn.run`` with SystemExit, so the caller's ``finally`` still runs.

    uvicorn shuts down gracefully on SIGTERM and then re-raises the signal to the
    handler that was installed before it started: with the default handler the
    process dies there, before a ``finally`` could flush queued events or close
    the ledger. Call this (from the main thread) just before ``uvicorn.run``.
    """

    def _exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


class BackgroundServer:
    """Serve an ASGI app on a thread; ``with BackgroundServer(app) as s: httpx.get(s.url + ...)``."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and without it every response waits for the client's delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        options: dict[str, Any] = {"log_level": "warning", "lifespan": "auto", **config}
        self._server = uvicorn.Server(uvicorn.Config(app, **options))
        self._thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
