"""The process's one configured recorder, behind ``costtrail.configure`` and friends.

The SDK's module-level API is process-wide by design (as ``logging`` is); only
:mod:`costtrail.sdk.api` uses this holder. Everything else takes its recorder
explicitly: tests and the gateway build their own
:class:`~costtrail.sdk.recorder.Recorder` and never touch it.
"""

from __future__ import annotations

import atexit
import logging
import threading

from costtrail.sdk.config import SdkSettings, make_sink
from costtrail.sdk.recorder import Recorder

log = logging.getLogger("costtrail.sdk")


class ActiveRecorder:
    """Holds the configured recorder; closes it at interpreter exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recorder: Recorder | None = None
        self._exit_hook = False

    def get(self) -> Recorder:
        """The configured recorder, configuring one from the environment on first use."""
        recorder = self._recorder
        if recorder is not None:
            return recorder
        with self._lock:
            if self._recorder is None:
                settings = SdkSettings.from_env()
                where = settings.endpoint or settings.ledger or "costtrail.duckdb"
                log.info("costtrail: not configured; recording to %s (see costtrail.configure())", where)
                self._install(Recorder(make_sink(settings), defaults={"environment": settings.environment}))
            assert self._recorder is not None
            return self._recorder

    def peek(self) -> Recorder | None:
        return self._recorder

    def replace(self, recorder: Recorder | None, timeout: float | None = None) -> None:
        with self._lock:
            previous = self._recorder
            self._recorder = None
            if recorder is not None:
                self._install(recorder)
        if previous is not None and previous is not recorder:
            previous.close(timeout)

    def _install(self, recorder: Recorder) -> None:
        self._recorder = recorder
        if not self._exit_hook:
            atexit.register(self._at_exit)
            self._exit_hook = True

    def _at_exit(self) -> None:
        recorder = self._recorder
        if recorder is not None:
            recorder.close()


ACTIVE = ActiveRecorder()
