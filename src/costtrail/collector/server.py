"""Running an ASGI app under uvicorn: in the foreground (the CLI) or on a background thread.

:class:`BackgroundServer` binds before it returns (port 0 picks a free port),
so callers can use ``server.url`` at once: tests, benchmarks and the demo use it.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from costtrail.auth import KeyRing
from costtrail.collector.app import create_app
from costtrail.collector.payload import Limits
from costtrail.ledger.store import LedgerStore
from costtrail.process import exit_cleanly_on_sigterm
from costtrail.settings import Settings

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


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


@dataclass(frozen=True)
class ServeOptions:
    """How ``costtrail serve`` runs the collector: address, keys, body limits, workers, dashboard."""

    host: str = "127.0.0.1"
    port: int = 8787
    keys: KeyRing | None = None  # default: the key ring beside the ledger
    limits: Limits = field(default_factory=Limits)
    workers: int = 0
    controls_file: Path | None = None
    forwarded_allow_ips: str | None = None  # trust X-Forwarded-For only from these proxies


def serve(settings: Settings, store: LedgerStore, options: ServeOptions) -> None:
    """Serve the collector over ``store`` in the foreground until SIGINT or SIGTERM, then close the store.

    The process is tuned for one long-lived server: the store's threads leave a core to each
    worker process, the garbage collector stops walking what start-up built, and the event
    writer gets the GIL back sooner.
    """
    if options.workers:
        # The workers take a core each; the store's own threads get the rest. On 2 cores DuckDB's
        # second thread only competed with the worker for the CPU (ingest figures: bench/RESULTS.md).
        store.limit_threads((os.cpu_count() or 1) - options.workers)
    app = create_app(
        settings,
        store,
        keys=options.keys,
        limits=options.limits,
        workers=options.workers,
        controls_file=options.controls_file,
    )
    exit_cleanly_on_sigterm()  # so that the ledger below is closed (checkpointed) on SIGTERM
    # Everything imported and opened so far lives as long as the server: the garbage collector's
    # full passes, frequent while batches stream in, stop walking it.
    gc.freeze()
    # The event writer gives the GIL up in every DuckDB statement and waits to get it back while
    # the event loop holds it: 1 ms turns instead of 5 ms (ingest figures: bench/RESULTS.md).
    sys.setswitchinterval(0.001)
    try:
        uvicorn.run(
            app,
            host=options.host,
            port=options.port,
            log_level="warning",
            access_log=False,
            # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: a client on this
            # machine could then pose as any address and never be throttled.
            proxy_headers=bool(options.forwarded_allow_ips),
            forwarded_allow_ips=options.forwarded_allow_ips or "",
        )
    finally:
        store.close()
        # Frozen objects are never freed at exit; DuckDB's bindings would then print pages of
        # "nanobind: leaked ..." on every shutdown.
        gc.unfreeze()
