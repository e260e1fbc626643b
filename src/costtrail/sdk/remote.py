"""Shipping events to a costtrail collector: batches, retries with backoff, a disk spool, replay.

Batches go to ``{endpoint}/v1/events`` (outcomes to ``/v1/outcomes``) as JSON
arrays with ``Authorization: Bearer <api_key>``. The collector answers 200
with ``{"accepted", "duplicates", "rejected": [{"index", "field", "reason"}]}``
only once the batch is durable, so a batch is forgotten only after that 200.

- 429, 5xx, timeouts and connection errors: retried with exponential backoff
  and jitter, then spooled to disk; while the collector is down new batches go
  straight to the spool, and a probe every ``replay_interval`` (growing up to
  30 s) replays the spool once it answers again.
- 401/403 (bad key): logged as an error naming the fix; the batch is spooled,
  not lost, and replayed once a valid key is configured.
- 413: the batch is split in halves and resent.
- other 4xx: the batch itself is bad; logged and dropped (never retried forever).

Every event keeps its client-made ``event_id`` across re-sends, and the
collector stores each id once, so after an outage every event arrives exactly once.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import httpx

from costtrail.schema import Event, Outcome
from costtrail.sdk.spool import DEFAULT_SPOOL_MAX_BYTES, Spool, spool_folder

log = logging.getLogger("costtrail.sdk")

_PATHS = {"events": "/v1/events", "outcomes": "/v1/outcomes"}
MAX_REPLAY_DELAY = 30.0


class _Result(Enum):
    SENT = "sent"
    RETRY_LATER = "retry_later"
    DROPPED = "dropped"


class CollectorDestination:
    """A :class:`~costtrail.sdk.sink.Destination` that ships batches to a collector over HTTP."""

    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        *,
        spool_dir: str | Path,
        batch_size: int = 500,
        batch_interval: float = 1.0,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        replay_interval: float = 2.0,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        headers = {"Content-Type": "application/json", "User-Agent": "costtrail-sdk"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._timeout = timeout
        self._batch_size, self._batch_interval = batch_size, batch_interval
        self._max_attempts, self._backoff_base, self._backoff_max = max_attempts, backoff_base, backoff_max
        self._replay_interval = replay_interval
        self._replay_delay = replay_interval
        self._down_until = 0.0
        self.spool = Spool(spool_folder(spool_dir, self.endpoint), max_bytes=spool_max_bytes)
        self._pending: dict[str, list[dict[str, Any]]] = {"events": [], "outcomes": []}
        self._oldest: dict[str, float | None] = {"events": None, "outcomes": None}
        self._counts = {
            "sent": 0,
            "outcomes_sent": 0,
            "duplicates": 0,
            "rejected": 0,
            "dropped_batches": 0,
            "retries": 0,
            "spooled": 0,
            "replayed": 0,
            "spool_full": 0,
        }

    # -- Destination ------------------------------------------------------------

    def write_events(self, events: Sequence[Event]) -> None:
        self._add("events", [e.model_dump(mode="json", exclude_none=True) for e in events])

    def write_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        self._add("outcomes", [o.model_dump(mode="json", exclude_none=True) for o in outcomes])

    def tick(self, deadline: float | None) -> None:
        now = time.monotonic()
        for kind, records in self._pending.items():
            oldest = self._oldest[kind]
            due = deadline is not None or (oldest is not None and now - oldest >= self._batch_interval)
            if records and due:
                self._ship(kind, deadline)
        if self._is_up(deadline):
            self._replay(deadline)

    def close(self, deadline: float) -> None:
        try:
            for kind in self._pending:
                if self._pending[kind]:
                    self._ship(kind, deadline)
            if self._is_up(deadline):
                self._replay(deadline)
        finally:
            for kind, records in self._pending.items():
                if records:
                    self._spool(kind, records)
                    records.clear()
            self._client.close()

    def stats(self) -> dict[str, int]:
        out = dict(self._counts)
        out["spool_files"] = self.spool.count()
        return out

    # -- batching and sending ----------------------------------------------------

    def _add(self, kind: str, records: list[dict[str, Any]]) -> None:
        pending = self._pending[kind]
        if not pending:
            self._oldest[kind] = time.monotonic()
        pending.extend(records)
        if len(pending) >= self._batch_size:
            self._ship(kind, None, full_only=True)

    def _ship(self, kind: str, deadline: float | None, *, full_only: bool = False) -> None:
        pending = self._pending[kind]
        while pending and (not full_only or len(pending) >= self._batch_size):
            batch = pending[: self._batch_size]
            del pending[: self._batch_size]
            result = self._send(kind, batch, deadline) if self._is_up(deadline) else _Result.RETRY_LATER
            if result is _Result.RETRY_LATER:
                self._spool(kind, batch)
        self._oldest[kind] = time.monotonic() if pending else None

    def _is_up(self, deadline: float | None) -> bool:
        """False while the collector is known down (a flush still probes it once)."""
        return deadline is not None or time.monotonic() >= self._down_until

    def _mark_down(self) -> None:
        self._down_until = time.monotonic() + self._replay_delay
        self._replay_delay = min(self._replay_delay * 2, MAX_REPLAY_DELAY)

    def _mark_up(self) -> None:
        self._down_until = 0.0
        self._replay_delay = self._replay_interval

    def _spool(self, kind: str, batch: list[dict[str, Any]]) -> None:
        if self.spool.put(kind, batch):
            self._counts["spooled"] += len(batch)
        else:
            self._counts["spool_full"] += len(batch)

    def _send(
        self, kind: str, batch: list[dict[str, Any]], deadline: float | None, attempts: int = 0
    ) -> _Result:
        body = json.dumps(batch, separators=(",", ":")).encode()
        url = self.endpoint + _PATHS[kind]
        attempts = attempts or self._max_attempts
        for attempt in range(attempts):
            if attempt:
                self._counts["retries"] += 1
            timeout = (
                self._timeout
                if deadline is None
                else max(0.05, min(self._timeout, deadline - time.monotonic()))
            )
            try:
                response = self._client.post(url, content=body, timeout=timeout)
            except httpx.HTTPError as exc:
                log.warning("costtrail: collector %s unreachable (%s)", self.endpoint, type(exc).__name__)
                wait = self._backoff(attempt, None)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    self._accepted(kind, response, len(batch))
                    self._mark_up()
                    return _Result.SENT
                if status in (401, 403):
                    log.error(
                        "costtrail: the collector %s refused the API key (HTTP %d): set a valid ingest key "
                        "with costtrail.configure(api_key=...) or COSTTRAIL_API_KEY; %d %s kept in the spool",
                        self.endpoint,
                        status,
                        len(batch),
                        kind,
                    )
                    self._mark_down()
                    return _Result.RETRY_LATER
                if status == 413 and len(batch) > 1:
                    half = len(batch) // 2
                    first = self._send(kind, batch[:half], deadline)
                    if first is _Result.RETRY_LATER:
                        self._spool(kind, batch[:half])
                    return self._send(kind, batch[half:], deadline)
                if status != 429 and status != 408 and 400 <= status < 500:
                    self._counts["dropped_batches"] += 1
                    self._counts["rejected"] += len(batch)
                    log.error(
                        "costtrail: the collector rejected a batch of %d %s (HTTP %d): %s",
                        len(batch),
                        kind,
                        status,
                        response.text[:500],
                    )
                    return _Result.DROPPED
                log.warning("costtrail: collector %s answered HTTP %d, will retry", self.endpoint, status)
                wait = self._backoff(attempt, response.headers.get("retry-after"))
            if attempt + 1 >= attempts:
                break
            if deadline is not None and time.monotonic() + wait > deadline:
                break
            time.sleep(wait)
        self._mark_down()
        return _Result.RETRY_LATER

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), float(self._backoff_max))
            except ValueError:
                pass
        base: float = min(self._backoff_max, self._backoff_base * 2.0**attempt)
        return base * (0.5 + random.random() / 2)

    def _accepted(self, kind: str, response: httpx.Response, size: int) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        rejected = body.get("rejected") or []
        sent_key = "sent" if kind == "events" else "outcomes_sent"
        self._counts[sent_key] += int(body.get("accepted", size - len(rejected)) or 0)
        self._counts["duplicates"] += int(body.get("duplicates", 0) or 0)
        if rejected:
            self._counts["rejected"] += len(rejected)
            first = rejected[0] if isinstance(rejected[0], dict) else {}
            log.warning(
                "costtrail: the collector rejected %d of %d %s; first: index %s, field %s: %s",
                len(rejected),
                size,
                kind,
                first.get("index"),
                first.get("field"),
                first.get("reason"),
            )

    # -- replay ---------------------------------------------------------------------

    def _replay(self, deadline: float | None) -> None:
        for path in self.spool.pending():
            if deadline is not None and time.monotonic() >= deadline:
                return
            claimed = self.spool.claim(path)
            if claimed is None:
                continue
            try:
                kind, records = self.spool.read(claimed)
            except (OSError, ValueError):
                log.exception("costtrail: unreadable spool file %s, left in place", claimed)
                continue
            result = self._send(kind, records, deadline, attempts=1) if kind in _PATHS else _Result.DROPPED
            if result is _Result.RETRY_LATER:
                self.spool.release(claimed)
                return
            self.spool.remove(claimed)
            if result is _Result.SENT:
                self._counts["replayed"] += len(records)
