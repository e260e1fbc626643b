"""Real processes for the hardening tests: ``costtrail serve`` as a child process that can be killed -9.

The collector runs exactly as a user starts it (the ``costtrail`` console
script), on a fixed free port of 127.0.0.1 so the SDKs keep one endpoint
across restarts; its stdout/stderr go to a log file that the secrets test scans.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.waiting import answering

COSTTRAIL = str(Path(sys.executable).with_name("costtrail"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CollectorProcess:
    """``costtrail serve --ledger LEDGER --port PORT`` in a child process, restartable on the same port."""

    def __init__(
        self, ledger: Path, log: Path, *, port: int | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        self.ledger = ledger
        self.log = log
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> CollectorProcess:
        args = [COSTTRAIL, "serve", "--ledger", str(self.ledger), "--port", str(self.port), *self.extra]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        self.starts += 1
        answering(self.url + "/healthz", self.proc, timeout, output=self.log.read_text)
        return self

    def kill9(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no checkpoint."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


class GatewayProcess:
    """``costtrail gateway`` in a child process, shipping to a collector (stdout/stderr to ``log``)."""

    def __init__(self, log: Path, args: list[str]) -> None:
        self.log = log
        self.port = free_port()
        self.args = [COSTTRAIL, "gateway", "--port", str(self.port), *args]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        answering(self.url + "/healthz", self.proc, timeout, output=self.log.read_text)
        return self

    def stop(self) -> None:
        """SIGTERM: the gateway flushes its sink before it exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
