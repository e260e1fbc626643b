"""The event sink: a bounded in-memory queue drained by one background writer thread.

The caller's thread only appends a small dict to a deque (no lock, no I/O), or a
function that builds it (``submit_later``: an instrumented call's response is read
and its event made on the writer thread).
The writer validates each dict (``Event.parse``), prices it
(``costtrail.pricing.Pricer``) and hands batches to a :class:`Destination`: a
local ledger file or a remote collector. Failures are logged and counted,
never raised into the app; a full queue drops the new event and counts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import ValidationError

from costtrail.schema import Event, Outcome

if TYPE_CHECKING:
    from costtrail.pricing import Pricer

log = logging.getLogger("costtrail.sdk")

DEFAULT_MAX_QUEUE = 20_000
DEFAULT_BATCH_SIZE = 500
DEFAULT_FLUSH_INTERVAL = 1.0
# A submitted event may carry its call's text under this key (content storage on); it is taken
# off before validation and written to the ledger's separate ``content`` table.
CONTENT_KEY = "_content"


@runtime_checkable
class EventSink(Protocol):
    """Where the SDK and the gateway put events: non-blocking ``submit``, explicit ``flush``.

    ``submit`` takes a raw event dict (envelope field names or their aliases;
    ``started_at``/``ended_at`` may be UTC epoch seconds) and returns False when
    the event was dropped (queue full or sink closed). It never raises.
    """

    def submit(self, event: dict[str, Any]) -> bool: ...

    def submit_outcome(self, outcome: dict[str, Any]) -> bool: ...

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything submitted so far is written (or spooled); False on timeout."""
        ...

    def close(self, timeout: float | None = None) -> None: ...

    def stats(self) -> dict[str, int]: ...


class Destination(Protocol):
    """What the writer thread writes validated, priced batches to (called from that thread only)."""

    def write_events(self, events: Sequence[Event]) -> None: ...

    def write_outcomes(self, outcomes: Sequence[Outcome]) -> None: ...

    def tick(self, deadline: float | None) -> None:
        """Periodic work (send due batches, replay a spool); ``deadline`` set when flushing."""
        ...

    def close(self, deadline: float) -> None: ...

    def stats(self) -> dict[str, int]: ...


def _to_datetime(key: str, value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError):
            # NaN, or past year 9999 as seconds (epoch milliseconds, often): refused by name, like
            # any other invalid field, and never guessed as milliseconds.
            reason = f"{value!r} is not epoch seconds up to year 9999: send seconds"
            error = {"type": "value_error", "loc": (key,), "input": value, "ctx": {"error": reason}}
            raise ValidationError.from_exception_data("timestamp", [error]) from None  # type: ignore[list-item]
    return value


def event_from_record(raw: dict[str, Any]) -> Event:
    """Validate one submitted event dict (epoch-second timestamps accepted)."""
    for key in ("started_at", "ended_at"):
        if key in raw:
            raw[key] = _to_datetime(key, raw[key])
    return Event.parse(raw)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "event"
    return f"{where}: {first.get('msg', 'invalid')}"


class QueuedSink:
    """An :class:`EventSink` backed by a bounded deque and one daemon writer thread.

    ``destination_factory`` is called in the writer thread (so a DuckDB file is
    opened and owned by that thread). ``price=False`` leaves pricing to the
    receiver (the collector prices with its own rate card).
    """

    def __init__(
        self,
        destination_factory: Callable[[], Destination],
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        shutdown_timeout: float = 5.0,
        price: bool = True,
        name: str = "costtrail-writer",
    ) -> None:
        if max_queue < 1 or batch_size < 1 or flush_interval <= 0:
            raise ValueError("max_queue and batch_size must be >= 1 and flush_interval > 0")
        self._factory = destination_factory
        self._events: deque[dict[str, Any] | Callable[[], dict[str, Any]]] = deque()
        self._outcomes: deque[dict[str, Any]] = deque()
        self._flushes: deque[threading.Event] = deque()
        self._max_queue, self._batch_size = max_queue, batch_size
        # The SDK's fast paths append a builder to the queue themselves while it is shorter than
        # quick_lane[1]: what submit_later does there (no writer to wake yet, no drop to count),
        # without its Python call on the caller's thread. Closing sets the length to 0.
        self.quick_lane: list[Any] = [self._events, min(batch_size, max_queue)]
        self._interval, self._shutdown_timeout = flush_interval, shutdown_timeout
        self._price = price
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._drop_lock = threading.Lock()
        self._counts = {
            "received": 0,
            "dropped": 0,
            "invalid": 0,
            "written": 0,
            "failed": 0,
            "outcomes": 0,
            "writer_errors": 0,
        }
        self._destination: Destination | None = None
        self._pricer: Pricer | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- caller's thread: keep this path tiny --------------------------------

    def submit(self, event: dict[str, Any]) -> bool:
        events = self._events
        if len(events) >= self._max_queue or self._closed:
            self._count_drop()
            return False
        events.append(event)
        if len(events) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def submit_later(self, build: Callable[[], dict[str, Any]]) -> bool:
        """Like :meth:`submit`, for an event ``build()`` makes on the writer thread (flush waits for it)."""
        events = self._events
        if len(events) >= self._max_queue or self._closed:
            self._count_drop()
            return False
        events.append(build)
        if len(events) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def submit_outcome(self, outcome: dict[str, Any]) -> bool:
        if len(self._outcomes) >= self._max_queue or self._closed:
            self._count_drop()
            return False
        self._outcomes.append(outcome)
        return True

    def _count_drop(self) -> None:
        with self._drop_lock:
            self._counts["dropped"] += 1
            dropped = self._counts["dropped"]
        if dropped == 1 or dropped % 1000 == 0:
            log.warning(
                "costtrail: event queue full or closed, %d events dropped so far (max_queue=%d)",
                dropped,
                self._max_queue,
            )

    def flush(self, timeout: float | None = None) -> bool:
        if not self._thread.is_alive():
            return not self._events and not self._outcomes
        done = threading.Event()
        self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        self.quick_lane[1] = 0
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(self._shutdown_timeout if timeout is None else timeout)

    def stats(self) -> dict[str, int]:
        out = dict(self._counts)
        out["queued"] = len(self._events) + len(self._outcomes)
        dest = self._destination
        if dest is not None:
            out.update(dest.stats())
        return out

    # -- writer thread --------------------------------------------------------

    def _run(self) -> None:
        try:
            self._destination = self._factory()
        except Exception:
            log.exception("costtrail: cannot open the event destination; events will be counted as failed")
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stop.is_set()
            waiters = self._take_flushes()
            try:
                self._drain()
                deadline = time.monotonic() + self._shutdown_timeout if (waiters or stopping) else None
                if self._destination is not None:
                    self._destination.tick(deadline)
            except Exception:
                self._counts["writer_errors"] += 1
                log.exception("costtrail: background writer error (the app is not affected)")
            for waiter in waiters:
                waiter.set()
            if stopping:
                break
        self._shutdown()

    def _take_flushes(self) -> list[threading.Event]:
        out = []
        while self._flushes:
            out.append(self._flushes.popleft())
        return out

    def _shutdown(self) -> None:
        if self._destination is not None:
            try:
                self._destination.close(time.monotonic() + self._shutdown_timeout)
            except Exception:
                log.exception("costtrail: error closing the event destination")
        for waiter in self._take_flushes():
            waiter.set()

    def _drain(self) -> None:
        while self._outcomes:
            self._write_outcomes(self._pop(self._outcomes))
        while self._events:
            self._write_events(self._pop(self._events))

    def _pop(self, queue: deque[Any]) -> list[Any]:
        batch = []
        popleft = queue.popleft
        for _ in range(min(self._batch_size, len(queue))):
            batch.append(popleft())
        return batch

    def _write_events(self, raw: list[dict[str, Any] | Callable[[], dict[str, Any]]]) -> None:
        self._counts["received"] += len(raw)
        events: list[Event] = []
        texts: list[tuple[Event, dict[str, Any]]] = []
        for queued in raw:
            if isinstance(queued, dict):
                item = queued
            else:
                try:
                    item = queued()  # submit_later: the response is read and the event built here
                except Exception:
                    self._counts["failed"] += 1
                    log.exception("costtrail: could not build a recorded call's event")
                    continue
            text = item.pop(CONTENT_KEY, None)  # never parsed: it must not land in attributes
            try:
                events.append(event_from_record(item))
            except ValidationError as exc:
                self._invalid(exc, "event")
                continue
            if isinstance(text, dict):
                texts.append((events[-1], text))
        if not events:
            return
        if self._price:
            if self._pricer is None:
                from costtrail.pricing import Pricer  # loaded in the writer thread, not at import

                self._pricer = Pricer()
            try:
                self._pricer.apply(events)
            except Exception:
                log.exception("costtrail: pricing failed; events are sent unpriced for the ledger to price")
        if self._destination is None:
            self._counts["failed"] += len(events)
            return
        try:
            self._destination.write_events(events)
            self._counts["written"] += len(events)
        except Exception:
            self._counts["failed"] += len(events)
            log.exception("costtrail: could not write %d events", len(events))
            return
        if texts:
            self._write_content(texts)

    def _write_content(self, texts: list[tuple[Event, dict[str, Any]]]) -> None:
        write = getattr(self._destination, "write_content", None)
        if write is None:
            return  # a destination without a content table (the collector): text is not kept
        from costtrail.ledger.content import ContentRecord

        records = [
            ContentRecord(e.event_id, e.started_at, t.get("prompt"), t.get("completion")) for e, t in texts
        ]
        try:
            write(records)
        except Exception:
            log.exception("costtrail: could not store the text of %d calls", len(records))

    def _write_outcomes(self, raw: list[dict[str, Any]]) -> None:
        outcomes: list[Outcome] = []
        for item in raw:
            try:
                item["recorded_at"] = _to_datetime("recorded_at", item.get("recorded_at", time.time()))
                outcomes.append(Outcome.parse(item))
            except ValidationError as exc:
                self._invalid(exc, "outcome")
        if not outcomes or self._destination is None:
            return
        try:
            self._destination.write_outcomes(outcomes)
            self._counts["outcomes"] += len(outcomes)
        except Exception:
            self._counts["failed"] += len(outcomes)
            log.exception("costtrail: could not write %d outcomes", len(outcomes))

    def _invalid(self, exc: ValidationError, what: str) -> None:
        self._counts["invalid"] += 1
        n = self._counts["invalid"]
        if n <= 10 or n % 1000 == 0:
            log.warning("costtrail: invalid %s not recorded (%d so far): %s", what, n, _problem(exc))
