"""Serve any ASGI app with uvicorn on 127.0.0.1 in a background thread (tests, demo, benches)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class ServerThread:
    """A real HTTP server for an ASGI app, in a daemon thread.

    ``port=0`` picks a free port; :attr:`base_url` says which. ``restart()``
    brings the server back on the same port (to simulate an outage).

    >>> from starlette.applications import Starlette
    >>> with ServerThread(Starlette()) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning", **config: Any
    ) -> None:
        self.app, self.host, self.port, self.log_level = app, host, port, log_level
        self.config = config  # more uvicorn.Config options (loop, http, ...)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level=self.log_level, lifespan="auto", access_log=False, **self.config
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="costtrail-http"
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the HTTP server on {self.base_url} did not start")
            time.sleep(0.005)
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._server, self._thread = None, None

    def restart(self) -> ServerThread:
        self.stop()
        return self.start()

    def __enter__(self) -> ServerThread:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
