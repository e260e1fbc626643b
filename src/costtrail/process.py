"""What a foreground server process needs from the operating system, shared by every door.

:func:`exit_cleanly_on_sigterm` lets ``uvicorn.run`` end with ``SystemExit`` on
SIGTERM, so the server's ``finally`` (flush the events, close the ledger) runs.
"""

from __future__ import annotations

import signal
from typing import Any


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
