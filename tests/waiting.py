"""The one way a test waits: on a condition, never on a clock.

>>> calls = iter([0, 0, 3])
>>> wait_until(lambda: next(calls), timeout=5, interval=0)
3
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition was still false when the timeout ran out."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    *,
    interval: float = 0.02,
    ignoring: tuple[type[BaseException], ...] = (),
    message: str | Callable[[], str] = "",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    ``ignoring`` lists exceptions that mean "not yet" (a server still starting refuses
    connections); any other exception ends the wait at once. ``interval`` only spaces the
    calls out: nothing is assumed to have happened when it has passed. After ``timeout``
    seconds the wait fails with :class:`WaitTimeout`, naming ``message`` and the last value.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise WaitTimeout(f"not true after {timeout} s: {text or predicate!r} (last: {last!r})")
        time.sleep(interval)


def answering(
    url: str,
    proc: subprocess.Popen[Any] | None = None,
    timeout: float = 60.0,
    output: Callable[[], str] | None = None,
) -> None:
    """Wait until ``url`` answers 200; if ``proc`` (the server's process) exits first, fail at once.

    The failure shows the process's output: ``output()`` when given (a log file), else its pipes.
    """

    def said() -> str:
        if output is not None:
            return output()
        if proc is None or proc.poll() is None:
            return ""
        return repr(proc.communicate())

    def up() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {said()}")
        return httpx.get(url, timeout=1).status_code == 200

    wait_until(
        up,
        timeout,
        interval=0.05,
        ignoring=(httpx.TransportError,),
        message=lambda: f"{url} answering {said()}",
    )
