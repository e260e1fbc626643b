"""A simulated clock for the SDK: events recorded inside ``simulated_time(at)`` are dated from ``at``.

The demo replays 30 days of a product in a minute or two. The SDK stamps every
event with the real clock (``time.time()``); :class:`SimulatedClockSink` wraps
the SDK's :class:`~costtrail.sdk.sink.EventSink` and moves each timestamp of
an event or outcome submitted inside ``simulated_time(at)`` by the same offset
(``at`` minus the real time when the block began). Durations and the order of
events within a run stay as measured; only the date moves. The offset lives
in a context variable, so concurrent runs (asyncio tasks) each keep their own.

Install it on a recorder (this is the SDK's hook for simulated clocks)::

    recorder = costtrail.configure(ledger="demo.duckdb")
    recorder.sink = SimulatedClockSink(recorder.sink)
    with simulated_time(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)):
        ...  # instrumented calls, costtrail.record(...), costtrail.outcome(...)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from costtrail.sdk.sink import EventSink

# Seconds to add to a real timestamp; None outside any simulated block.
_OFFSET: ContextVar[float | None] = ContextVar("costtrail_demo_clock_offset", default=None)

_TIME_FIELDS = ("started_at", "ended_at", "recorded_at")


@contextmanager
def simulated_time(at: datetime) -> Iterator[None]:
    """Date everything submitted in this block (this task/thread) from ``at`` (timezone-aware)."""
    if at.tzinfo is None:
        raise ValueError("simulated_time() needs a timezone-aware datetime (e.g. tzinfo=UTC)")
    token = _OFFSET.set(at.timestamp() - time.time())
    try:
        yield
    finally:
        _OFFSET.reset(token)


def _shift(value: Any, offset: float) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value + offset
    if isinstance(value, datetime):
        return value + timedelta(seconds=offset)
    return value


def _shifted(record: dict[str, Any]) -> dict[str, Any]:
    offset = _OFFSET.get()
    if offset is None:
        return record
    for key in _TIME_FIELDS:
        if key in record:
            record[key] = _shift(record[key], offset)
    return record


class SimulatedClockSink:
    """An :class:`EventSink` that re-dates what it is given, then hands it to the real sink."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner

    def submit(self, event: dict[str, Any]) -> bool:
        return self.inner.submit(_shifted(event))

    def submit_outcome(self, outcome: dict[str, Any]) -> bool:
        return self.inner.submit_outcome(_shifted(outcome))

    def flush(self, timeout: float | None = None) -> bool:
        return self.inner.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.inner.close(timeout)

    def stats(self) -> dict[str, int]:
        return self.inner.stats()
