"""Re-pricing stored history after a price or rate-card change, in bulk.

The ledger is read a few days at a time as Arrow, priced with
:meth:`Pricer.price_table`, and only rows whose cost, source, reference or
unpriced flag changed are written back. Running it twice changes nothing the
second time. Every earlier price stays in the ledger's ``price_history`` (the stores'
``update_event_costs``), and the summary keeps apart the events that were *newly priced*
(unpriced before) from those whose *price changed* (and those that lost their price).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from costtrail.ledger.columns import EVENT_COLUMNS
from costtrail.ledger.store import LedgerStore
from costtrail.pricing.engine import Pricer

Progress = Callable[[int, int], None]
_COST_COLUMNS = ("cost_usd", "cost_source", "price_ref", "unpriced")


@dataclass
class RepriceSummary:
    """What a reprice did: events examined and changed, totals and unpriced counts before and after."""

    events: int = 0
    changed: int = 0
    updated: int = 0
    old_total: Decimal = Decimal(0)
    new_total: Decimal = Decimal(0)
    unpriced_before: int = 0
    unpriced_after: int = 0
    newly_priced: int = 0
    newly_priced_total: Decimal = Decimal(0)
    price_changed: int = 0
    changed_old_total: Decimal = Decimal(0)
    changed_new_total: Decimal = Decimal(0)
    newly_unpriced: int = 0
    newly_unpriced_old_total: Decimal = Decimal(0)

    @property
    def difference(self) -> Decimal:
        return self.new_total - self.old_total

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_repriced": self.events,
            "events_cost_changed": self.changed,
            "rows_updated": self.updated,
            "old_total_usd": self.old_total,
            "new_total_usd": self.new_total,
            "difference_usd": self.difference,
            "unpriced_before": self.unpriced_before,
            "unpriced_after": self.unpriced_after,
            "newly_priced_events": self.newly_priced,
            "newly_priced_usd": self.newly_priced_total,
            "price_changed_events": self.price_changed,
            "price_changed_old_usd": self.changed_old_total,
            "price_changed_new_usd": self.changed_new_total,
            "price_changed_difference_usd": self.changed_new_total - self.changed_old_total,
            "newly_unpriced_events": self.newly_unpriced,
            "newly_unpriced_old_usd": self.newly_unpriced_old_total,
        }


def reprice(
    store: LedgerStore,
    pricer: Pricer,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_rows: int = 500_000,
    progress: Progress | None = None,
) -> RepriceSummary:
    """Re-price events with ``since <= started_at < until`` (UTC) and write back what changed.

    ``progress(done, total)`` is called after each batch. Reported costs are kept.
    """
    d = store.dialect
    bounds = _where(store, since, until)
    days = store.query(
        f"SELECT {d.day('started_at')} AS d, count(*) AS n FROM {d.final('events')}"
        f" WHERE {bounds} GROUP BY d ORDER BY d"
    )
    total = sum(int(r["n"]) for r in days)
    summary = RepriceSummary()
    columns = ", ".join(c.name for c in EVENT_COLUMNS)
    for lo, hi in _batches(days, batch_rows):
        window = f"started_at >= {d.literal(lo)} AND started_at < {d.literal(hi)}"
        old = store.query_arrow(f"SELECT {columns} FROM {d.final('events')} WHERE {bounds} AND {window}")
        if old.num_rows:
            new = pricer.price_table(old)
            _account(summary, old, new)
            summary.updated += store.update_event_costs(_changed_rows(old, new))
        if progress is not None:
            progress(summary.events, total)
    return summary


def _where(store: LedgerStore, since: datetime | None, until: datetime | None) -> str:
    parts = ["TRUE"]
    if since is not None:
        parts.append(f"started_at >= {store.dialect.literal(_naive_utc(since))}")
    if until is not None:
        parts.append(f"started_at < {store.dialect.literal(_naive_utc(until))}")
    return " AND ".join(parts)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _batches(days: list[dict[str, Any]], batch_rows: int) -> list[tuple[datetime, datetime]]:
    """Consecutive days grouped into windows of about ``batch_rows`` events (a bigger day stays whole)."""
    out: list[tuple[datetime, datetime]] = []
    start: date | None = None
    end: date | None = None
    rows = 0
    for r in days:
        day = r["d"] if isinstance(r["d"], date) else date.fromisoformat(str(r["d"])[:10])
        if isinstance(day, datetime):
            day = day.date()
        if start is not None and rows + int(r["n"]) > batch_rows:
            assert end is not None
            out.append((_midnight(start), _midnight(end + timedelta(days=1))))
            start, rows = None, 0
        start = start or day
        end = day
        rows += int(r["n"])
    if start is not None and end is not None:
        out.append((_midnight(start), _midnight(end + timedelta(days=1))))
    return out


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _total(column: pa.ChunkedArray) -> Decimal:
    value = pc.sum(column).as_py()
    return Decimal(value) if value is not None else Decimal(0)


def _count_true(column: pa.ChunkedArray) -> int:
    return int(pc.sum(pc.cast(column, pa.int64())).as_py() or 0)


def _differs(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.Array:
    same = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.invert(pc.or_(same, both_null))


def _account(summary: RepriceSummary, old: pa.Table, new: pa.Table) -> None:
    summary.events += old.num_rows
    summary.changed += _count_true(_differs(old["cost_usd"], new["cost_usd"]))
    summary.old_total += _total(old["cost_usd"])
    summary.new_total += _total(new["cost_usd"])
    summary.unpriced_before += _count_true(old["unpriced"])
    summary.unpriced_after += _count_true(new["unpriced"])
    was, now = old["unpriced"], new["unpriced"]
    gained = pc.and_(was, pc.invert(now))
    summary.newly_priced += _count_true(gained)
    summary.newly_priced_total += _total(new["cost_usd"].filter(gained))
    moved = pc.and_(pc.invert(pc.or_(was, now)), _differs(old["cost_usd"], new["cost_usd"]))
    summary.price_changed += _count_true(moved)
    summary.changed_old_total += _total(old["cost_usd"].filter(moved))
    summary.changed_new_total += _total(new["cost_usd"].filter(moved))
    lost = pc.and_(pc.invert(was), now)
    summary.newly_unpriced += _count_true(lost)
    summary.newly_unpriced_old_total += _total(old["cost_usd"].filter(lost))


def _changed_rows(old: pa.Table, new: pa.Table) -> pa.Table:
    mask = _differs(old["cost_usd"], new["cost_usd"])
    for name in _COST_COLUMNS[1:]:
        mask = pc.or_(mask, _differs(old[name], new[name]))
    return new.select(["event_uuid", *_COST_COLUMNS]).filter(mask)
