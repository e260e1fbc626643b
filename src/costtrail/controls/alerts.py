"""Alerts: what a guardrail or budget raises, and where it goes.

Every alert carries its evidence (which runs, which numbers) and a ``key``;
the :class:`AlertDispatcher` sends an alert with a given key at most once per
cooldown, to every sink: the log, webhooks (see
:mod:`costtrail.controls.webhook`) and the ``alerts`` table in the ledger.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from costtrail.controls.periods import Clock, as_utc, utc_now
from costtrail.ledger.store import LedgerStore

log = logging.getLogger("costtrail.alerts")

ALERTS_TABLE = "alerts"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def evidence_json(value: Any) -> str:
    """JSON with exact decimals (as strings) and ISO timestamps."""
    return json.dumps(value, default=_json_default, sort_keys=True)


@dataclass(frozen=True)
class Alert:
    """One alert: ``kind`` (e.g. ``retry_loop``), a dedup ``key``, a title, and the evidence."""

    kind: str
    key: str
    title: str
    message: str
    severity: str = "warning"
    scope: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    raised_at: datetime = field(default_factory=utc_now)
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "key": self.key,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "scope": dict(self.scope),
            "evidence": json.loads(evidence_json(self.evidence)),
            "raised_at": as_utc(self.raised_at).isoformat(),
        }


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


class LogSink:
    """Writes each alert as one log line (logger ``costtrail.alerts``)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    def send(self, alert: Alert) -> None:
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        self.logger.log(
            level,
            "%s [%s] %s | evidence=%s",
            alert.kind,
            alert.severity,
            alert.message,
            evidence_json(alert.evidence),
        )


class LedgerAlertSink:
    """The ``alerts`` table in the ledger (created on first use; same SQL on DuckDB and ClickHouse)."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        store.ensure_table(ALERTS_TABLE)  # declared in ledger/tables.py

    def send(self, alert: Alert) -> None:
        lit = self.store.dialect.literal
        values = ", ".join(
            lit(v)
            for v in (
                alert.alert_id,
                alert.kind,
                alert.key,
                alert.severity,
                alert.title,
                alert.message,
                evidence_json(alert.scope),
                evidence_json(alert.evidence),
                as_utc(alert.raised_at),
            )
        )
        self.store.execute(
            f"INSERT INTO {ALERTS_TABLE} (alert_id, kind, dedup_key, severity, title, message, scope, "
            f"evidence, raised_at) VALUES ({values})"
        )

    def last_raised(self, since: datetime) -> dict[str, datetime]:
        """The latest time each key was raised since ``since`` (to keep the cooldown across restarts)."""
        rows = self.store.query(
            f"SELECT dedup_key, max(raised_at) AS at FROM {ALERTS_TABLE} "
            f"WHERE raised_at >= {self.store.dialect.literal(as_utc(since))} GROUP BY dedup_key"
        )
        return {r["dedup_key"]: as_utc(r["at"]) for r in rows}


def table_exists(store: LedgerStore, name: str) -> bool:
    """Whether the ledger has a table (works read-only, on DuckDB and ClickHouse)."""
    lit = store.dialect.literal
    # current_database() keeps a ClickHouse server's other databases (and their tables) out of it.
    rows = store.query(
        "SELECT count(*) AS n FROM information_schema.tables "
        f"WHERE table_name = {lit(name)} AND table_catalog = current_database()"
    )
    return bool(rows and int(rows[0]["n"]))


def read_alerts(
    store: LedgerStore, *, since: datetime | None = None, kind: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Alerts stored in the ledger, newest first (an empty list when none were ever raised)."""
    if not table_exists(store, ALERTS_TABLE):
        return []
    lit = store.dialect.literal
    where = ["TRUE"]
    if since is not None:
        where.append(f"raised_at >= {lit(as_utc(since))}")
    if kind:
        where.append(f"kind = {lit(kind)}")
    rows = store.query(
        f"SELECT raised_at, kind, severity, title, message, scope, evidence, dedup_key, alert_id "
        f"FROM {ALERTS_TABLE} WHERE {' AND '.join(where)} "
        f"ORDER BY raised_at DESC, alert_id LIMIT {int(limit)}"
    )
    for r in rows:
        r["scope"] = json.loads(r["scope"])
        r["evidence"] = json.loads(r["evidence"])
    return rows


class AlertDispatcher:
    """Sends each alert to every sink, at most once per ``cooldown`` for the same key.

    >>> sent = []
    >>> class Memory:
    ...     def send(self, alert): sent.append(alert.key)
    >>> d = AlertDispatcher([Memory()], cooldown=timedelta(hours=1))
    >>> alert = Alert(kind="demo", key="k", title="t", message="m")
    >>> d.emit(alert), d.emit(alert)
    (True, False)
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        cooldown: timedelta = timedelta(hours=1),
        clock: Clock = utc_now,
        history: LedgerAlertSink | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, datetime] = {}
        if history is not None and cooldown > timedelta(0):
            self._last.update(history.last_raised(as_utc(clock()) - cooldown))
        self.sent: deque[Alert] = deque(maxlen=1000)  # the most recent, for status pages and tests
        self.suppressed = 0

    def emit(self, alert: Alert) -> bool:
        """Send unless the same key was sent within the cooldown; returns whether it was sent."""
        now = as_utc(self.clock())
        with self._lock:
            last = self._last.get(alert.key)
            if last is not None and now - last < self.cooldown:
                self.suppressed += 1
                return False
            self._last[alert.key] = now
            self.sent.append(alert)
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception:  # a broken sink must not stop the others, nor the request path
                log.exception("alert sink %s failed for %s", type(sink).__name__, alert.key)
        return True

    def close(self) -> None:
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                close()
