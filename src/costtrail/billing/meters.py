"""Meter records: the ledger's usage as the events a billing system meters, each with an id
derived from the ledger, sent once.

A record is one ledger event's quantity of one metric (``output_tokens`` of event
``e1`` for customer ``acme``), named as the billing system's meter expects. Its id,
``ct-<event uuid>-<metric>``, is the same on every run, so the billing system's own
de-duplication (Stripe's ``identifier``, a CloudEvent's ``id``, Lago's
``transaction_id``) and the :class:`SentLog` kept beside the ledger make a re-run send
nothing twice; a run that fails midway resumes after the last acknowledged batch.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from costtrail.billing.plans import TOKEN_METRICS
from costtrail.finance.period import Period
from costtrail.ledger.rows import restore_event_id
from costtrail.ledger.store import LedgerStore

# metric -> the event column (or expression) holding one event's quantity
METER_METRICS: dict[str, str] = {
    **{m: m for m in TOKEN_METRICS},
    "calls": "request_count",
    "cost": "cost_usd",
}


class MeterError(ValueError):
    """A meter export that cannot run as asked; the message names the fix."""


@dataclass(frozen=True)
class MeterRecord:
    """One ledger event's quantity of one metric, as a billing system's meter event."""

    id: str
    event_name: str
    customer_id: str
    value: Decimal
    timestamp: datetime
    metric: str
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_name": self.event_name,
            "customer_id": self.customer_id,
            "value": format(self.value.normalize(), "f") if self.value else "0",
            "timestamp": self.timestamp.isoformat(),
            "metric": self.metric,
            "event_id": self.event_id,
        }


class MeterSink(Protocol):
    """Where records go: one billing system's API through its official client, or a file."""

    name: str
    max_batch: int  # records one request carries (1: the service takes one event per request)

    def send(self, records: Sequence[MeterRecord]) -> None:
        """Send a batch; return only when the service acknowledged all of it, else raise."""
        ...


def parse_meters(items: Iterable[str]) -> dict[str, str]:
    """``output_tokens=llm_output_tokens`` items as {metric: event name} (the name defaults to the metric)."""
    out: dict[str, str] = {}
    for item in items:
        metric, _, name = item.partition("=")
        metric = metric.strip()
        if metric not in METER_METRICS:
            raise MeterError(
                f"--meter {item!r}: unknown metric {metric!r}; use one of {sorted(METER_METRICS)}"
            )
        out[metric] = name.strip() or metric
    if not out:
        raise MeterError(
            "give at least one --meter METRIC[=EVENT_NAME], e.g. --meter output_tokens=llm_tokens"
        )
    return out


def meter_records(
    store: LedgerStore, period: Period, meters: Mapping[str, str], customer: str | None = None
) -> Iterator[MeterRecord]:
    """Every record of ``period`` in time order: one per event with a customer and a quantity > 0."""
    d = store.dialect
    who = "customer_id IS NOT NULL" if customer is None else f"customer_id = {d.literal(customer)}"
    for metric, name in meters.items():
        column = METER_METRICS[metric]
        priced = " AND NOT unpriced" if metric == "cost" else ""
        rows = store.query(
            f"SELECT event_uuid, event_id, customer_id, started_at, {column} AS value "
            f"FROM {d.final('events')} WHERE {period.where('started_at', d.literal)} AND {who} "
            f"AND {column} > 0{priced} ORDER BY started_at, event_uuid"
        )
        for r in rows:
            key = r["event_uuid"]
            hexid = key.hex if isinstance(key, uuid.UUID) else uuid.UUID(str(key)).hex
            at = r["started_at"]
            yield MeterRecord(
                id=f"ct-{hexid}-{metric}",
                event_name=name,
                customer_id=str(r["customer_id"]),
                value=Decimal(r["value"]),
                timestamp=at if at.tzinfo else at.replace(tzinfo=UTC),
                metric=metric,
                event_id=restore_event_id(key, r["event_id"]),
            )


class SentLog:
    """The ids a sink acknowledged, one per line in a file; appended and synced after each batch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.ids: set[str] = set()
        if self.path.exists():
            self.ids = {line.strip() for line in self.path.read_text().splitlines() if line.strip()}

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.ids

    def add(self, ids: Iterable[str]) -> None:
        new = [i for i in ids if i not in self.ids]
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write("".join(f"{i}\n" for i in new))
            f.flush()
            os.fsync(f.fileno())
        self.ids.update(new)


@dataclass(frozen=True)
class ExportResult:
    sink: str
    records: int
    sent: int
    already_sent: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "records": self.records,
            "sent": self.sent,
            "already_sent": self.already_sent,
        }


def export_records(
    records: Iterable[MeterRecord], sink: MeterSink, log: SentLog | None, batch: int = 100
) -> ExportResult:
    """Send what ``log`` has not seen, ``batch`` records at a time, logging each acknowledged batch.

    A sink that raises stops the export; what it acknowledged before stays logged, so the next
    run resumes there. Without a log (a dry run to a file) every record is written.
    """
    total = sent = skipped = 0
    batch = max(1, min(batch, sink.max_batch))
    pending: list[MeterRecord] = []

    def flush() -> None:
        nonlocal sent
        if pending:
            sink.send(pending)
            if log is not None:
                log.add(r.id for r in pending)
            sent += len(pending)
            pending.clear()

    for record in records:
        total += 1
        if log is not None and record.id in log:
            skipped += 1
            continue
        pending.append(record)
        if len(pending) >= batch:
            flush()
    flush()
    return ExportResult(sink.name, total, sent, skipped)


class FileSink:
    """``--dry-run``: the records as JSON lines in a file, nothing sent."""

    name = "file"
    max_batch = 1000

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.write_text("")

    def send(self, records: Sequence[MeterRecord]) -> None:
        with self.path.open("a") as f:
            f.write("".join(json.dumps(r.as_dict()) + "\n" for r in records))
