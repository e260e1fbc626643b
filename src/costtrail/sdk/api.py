"""The process-wide SDK functions: ``costtrail.configure``, ``record``, ``outcome``, ``flush``, ...

These act on one recorder per process, held by :data:`ACTIVE`: the SDK's
module-level API is process-wide by design (as ``logging`` is). Everything
underneath takes its recorder and settings explicitly; tests and the gateway
build their own :class:`~costtrail.sdk.recorder.Recorder` and never touch it.
"""

from __future__ import annotations

import atexit
import logging
import threading
from decimal import Decimal
from typing import Any, TypeVar

from costtrail.sdk.clients import instrument_client
from costtrail.sdk.config import SdkSettings, make_sink
from costtrail.sdk.context import Run, Step
from costtrail.sdk.recorder import Recorder

log = logging.getLogger("costtrail.sdk")

T = TypeVar("T")


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


def configure(
    ledger: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    environment: str | None = None,
    *,
    settings: SdkSettings | None = None,
    **default_attribution: Any,
) -> Recorder:
    """Choose where events go and the attribution every event gets by default.

    >>> import costtrail
    >>> recorder = costtrail.configure(ledger=":memory:", environment="dev", product="helpdesk")
    >>> costtrail.shutdown()

    ``ledger="costtrail.duckdb"`` writes a local ledger file; ``endpoint=`` (with
    ``api_key=``) ships to a collector. ``settings=`` passes every knob
    (:class:`SdkSettings`: queue size, batch size, spool folder, timeouts).
    Calling it again replaces the previous configuration (flushing it first).
    """
    if settings is None:
        settings = SdkSettings.from_env(
            ledger=ledger, endpoint=endpoint, api_key=api_key, environment=environment
        )
    defaults = {"environment": settings.environment, **default_attribution}
    recorder = Recorder(make_sink(settings), defaults=defaults)
    ACTIVE.replace(recorder)
    return recorder


def get_recorder() -> Recorder:
    """The process's recorder (configured from the environment if ``configure`` was not called)."""
    return ACTIVE.get()


def run(workflow: str, *, run_id: str | None = None, **attribution: Any) -> Run:
    """Start a workflow run: ``with costtrail.run("support_reply", customer_id="c-42") as run:``."""
    return Run(workflow, run_id=run_id, **attribution)


def step(name: str, *, agent: str | None = None, **attribution: Any) -> Step:
    """A step of the current run: ``with costtrail.step("retrieve_docs", agent="retriever"):``."""
    return Step(name, agent=agent, **attribution)


def record(kind: str = "other", **fields: Any) -> str | None:
    """Record a retrieval query, tool call, infra usage or any other cost event; returns its id."""
    try:
        return ACTIVE.get().record(kind, **fields)
    except Exception:
        log.warning("costtrail: record() failed; the app is not affected", exc_info=True)
        return None


def outcome(
    run_id: str | None = None,
    outcome: str = "completed",
    success: bool = True,
    value_usd: Decimal | str | int | None = None,
    **fields: Any,
) -> bool:
    """Record what a run achieved (``run_id`` defaults to the current run)."""
    try:
        return ACTIVE.get().outcome(run_id, outcome, success, value_usd, **fields)
    except Exception:
        log.warning("costtrail: outcome() failed; the app is not affected", exc_info=True)
        return False


def instrument(client: T, *, recorder: Recorder | None = None) -> T:
    """Record every call an official ``openai`` or ``anthropic`` client makes (sync or async).

    The client is changed in place and returned. Without ``recorder`` the
    calls go to the process's configured recorder at the time they are made.
    """
    if recorder is not None:
        bound = recorder
        return instrument_client(client, lambda: bound)  # type: ignore[no-any-return]
    return instrument_client(client, ACTIVE.get)  # type: ignore[no-any-return]


def flush(timeout: float | None = 5.0) -> bool:
    """Wait until everything recorded so far is written or spooled; False on timeout."""
    recorder = ACTIVE.peek()
    return True if recorder is None else recorder.flush(timeout)


def stats() -> dict[str, int]:
    """The recorder's counters (received, written, dropped, invalid, failed, sent, spooled, ...)."""
    recorder = ACTIVE.peek()
    return {} if recorder is None else recorder.stats()


def shutdown(timeout: float | None = None) -> None:
    """Flush and stop the configured recorder (done automatically at exit)."""
    ACTIVE.replace(None, timeout)
