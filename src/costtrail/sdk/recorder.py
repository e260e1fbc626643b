"""The recorder: turns SDK calls into event dicts on the caller's thread, cheaply, and never raises.

A :class:`Recorder` holds the default attribution and an :class:`EventSink`.
Everything that touches disk or network happens in the sink's writer thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from costtrail.sdk.context import Run, Step, current_attribution, current_run_id
from costtrail.sdk.sink import EventSink

log = logging.getLogger("costtrail.sdk")


def fast_event_id() -> str:
    """A random 128-bit id as 32 hex characters (a valid UUID text; cheaper than ``uuid4().hex``)."""
    return os.urandom(16).hex()


class EventObserver(Protocol):
    """Sees each event before it is queued (the SDK's budgets count it); must not raise."""

    def observe(self, event: Mapping[str, Any]) -> None: ...


class Recorder:
    """Records events and outcomes into a sink, attributed to the current run/step and the defaults.

    >>> from costtrail.sdk.sink import QueuedSink
    >>> from costtrail.sdk.ledger_destination import LedgerDestination
    >>> sink = QueuedSink(lambda: LedgerDestination(":memory:"))
    >>> recorder = Recorder(sink, defaults={"environment": "dev"})
    >>> event_id = recorder.record("retrieval", query_count=3, tool_name="vector_search")
    >>> recorder.flush(5.0)
    True
    >>> recorder.close()
    """

    def __init__(self, sink: EventSink, *, defaults: Mapping[str, Any] | None = None) -> None:
        self.sink = sink
        self.observer: EventObserver | None = None
        self.defaults: dict[str, Any] = {k: v for k, v in (defaults or {}).items() if v is not None}
        # The sink's queue as the instrumented clients' fast paths fill it when no observer must
        # see the event first: [queue, length below which they append to it], QueuedSink.quick_lane;
        # None (another sink): they call emit_later.
        self.quick_lane: list[Any] | None = getattr(sink, "quick_lane", None)
        self._errors = 0
        self._error_lock = threading.Lock()
        self._closed = False

    def record(self, kind: str = "other", **fields: Any) -> str | None:
        """Record one event (retrieval query, tool call, infra usage, or a model call made by hand).

        Fields are envelope names (``query_count``, ``tool_name``, ``compute_seconds``,
        ``cost_usd`` for a reported cost, ...); unknown names land in ``attributes``.
        Returns the event id, or ``None`` if the event could not be queued. Never raises.
        """
        try:
            event = {**self.defaults, **current_attribution(), **fields}
            event["kind"] = kind
            event_id = event.get("event_id") or fast_event_id()
            event["event_id"] = event_id
            if "started_at" not in event:
                event["started_at"] = time.time()
            return event_id if self._submit(event) else None
        except Exception:
            self.count_error("record")
            return None

    def emit(self, fields: dict[str, Any], attribution: Mapping[str, Any]) -> bool:
        """Queue an event built elsewhere (an instrumented call) with the attribution of its start."""
        try:
            event = {**self.defaults, **attribution, **fields}
            event.setdefault("event_id", fast_event_id())
            return self._submit(event)
        except Exception:
            self.count_error("emit")
            return False

    def emit_later(self, build: Callable[[], dict[str, Any]]) -> bool:
        """Queue the whole event ``build()`` makes, on the sink's writer thread when it can.

        Built now, like :meth:`emit`, when an observer must see the event before it is queued
        (enforced budgets count a call before it returns) or the sink cannot defer.
        """
        try:
            if self.observer is None:
                submit_later = getattr(self.sink, "submit_later", None)
                if submit_later is not None:
                    return bool(submit_later(build))
            return self._submit(build())
        except Exception:
            self.count_error("emit")
            return False

    def observe_with(self, observer: EventObserver | None) -> None:
        """Show every event to ``observer`` before it is queued (``None``: stop); replaces the last one."""
        self.observer = observer

    def _submit(self, event: dict[str, Any]) -> bool:
        observer = self.observer
        if observer is not None:
            observer.observe(event)
        return self.sink.submit(event)

    def outcome(
        self,
        run_id: str | None = None,
        outcome: str = "completed",
        success: bool = True,
        value_usd: Decimal | str | int | None = None,
        **fields: Any,
    ) -> bool:
        """Record what a run achieved (``run_id`` defaults to the current run). Never raises."""
        try:
            attribution = current_attribution()
            run = run_id or current_run_id()
            if not run:
                log.warning("costtrail: outcome(%r) outside a run and without run_id: not recorded", outcome)
                return False
            record: dict[str, Any] = {
                k: attribution[k]
                for k in ("workflow", "feature", "customer_id", "tenant_id", "environment")
                if k in attribution and attribution.get("run_id") == run
            }
            if "environment" in self.defaults:
                record.setdefault("environment", self.defaults["environment"])
            record.update(fields)
            record.update(run_id=run, outcome=outcome, success=success, recorded_at=time.time())
            if value_usd is not None:
                record["value_usd"] = (
                    Decimal(str(value_usd)) if not isinstance(value_usd, Decimal) else value_usd
                )
            return self.sink.submit_outcome(record)
        except Exception:
            self.count_error("outcome")
            return False

    def run(self, workflow: str, *, run_id: str | None = None, **attribution: Any) -> Run:
        """A :class:`Run` context (``with``/``async with``) whose outcome this recorder records."""
        return Run(workflow, run_id=run_id, recorder=lambda: self, **attribution)

    def step(self, name: str, *, agent: str | None = None, **attribution: Any) -> Step:
        """A :class:`Step` context (``with``/``async with``)."""
        return Step(name, agent=agent, **attribution)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until everything recorded so far is written (or spooled); False on timeout. Never raises."""
        try:
            return self.sink.flush(timeout)
        except Exception:
            self.count_error("flush")
            return False

    def close(self, timeout: float | None = None) -> None:
        """Flush and stop the writer (called at exit for the configured recorder)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.sink.close(timeout)
        except Exception:
            self.count_error("close")

    def stats(self) -> dict[str, int]:
        """Counters: received, written, dropped, invalid, failed, and the destination's (sent, spooled...)."""
        try:
            out = dict(self.sink.stats())
        except Exception:
            out = {}
        out["record_errors"] = self._errors
        return out

    def count_error(self, where: str) -> None:
        with self._error_lock:
            self._errors += 1
            n = self._errors
        if n <= 10 or n % 1000 == 0:
            log.warning(
                "costtrail: %s failed (%d errors so far); the app is not affected", where, n, exc_info=True
            )
