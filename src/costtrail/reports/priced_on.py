"""Reports "as priced on DATE": each event at the price it had at the end of that UTC day.

Repricing keeps every earlier price of an event in ``price_history`` (``superseded_at``: when
that price was replaced). The price an event had at a moment is the earliest history row
superseded after it, else the event's current price. :func:`priced_on` wraps a store so that
every report query reads ``events`` through that view (nothing else of the report changes);
the run index is left out (it counts runs, which no price changes, but its plan would read
costs from the current rows).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast

from costtrail.ledger.run_index import RunIndex
from costtrail.ledger.store import Dialect, LedgerStore
from costtrail.ledger.usage_rollup import UsageRollup

_PRICE_COLUMNS = ("cost_usd", "cost_source", "price_ref", "unpriced")


def events_as_priced_on(dialect: Dialect, day: date) -> str:
    """A relation with every column of ``events``, its price columns as they were at the end of ``day``."""
    cutoff = dialect.literal(datetime.combine(day + timedelta(days=1), time()))
    then = ", ".join(
        f"CASE WHEN h.event_uuid IS NULL THEN e.{c} ELSE h.{c} END AS {c}" for c in _PRICE_COLUMNS
    )
    earliest = (
        f"SELECT event_uuid, {', '.join(_PRICE_COLUMNS)} FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY event_uuid ORDER BY superseded_at) AS _n "
        f"FROM price_history WHERE superseded_at >= {cutoff}) AS x WHERE _n = 1"
    )
    return (
        f"(SELECT e.* REPLACE ({then}) FROM {dialect.final('events')} AS e "
        f"LEFT JOIN ({earliest}) AS h ON e.event_uuid = h.event_uuid)"
    )


class _PricedOnDialect:
    """The store's dialect, but ``events`` reads as priced on a day."""

    def __init__(self, inner: Dialect, day: date) -> None:
        self._inner = inner
        self._day = day
        self.name = inner.name

    def final(self, table: str) -> str:
        return events_as_priced_on(self._inner, self._day) if table == "events" else self._inner.final(table)

    def candidates(self, table: str, predicate: str) -> str:
        return "TRUE"  # stored versions say nothing of the price then: no narrowing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _PricedOnStore:
    def __init__(self, inner: LedgerStore, day: date) -> None:
        self._inner = inner
        self.dialect = _PricedOnDialect(inner.dialect, day)

    def run_index(self) -> RunIndex | None:
        return None

    def usage_rollup(self) -> UsageRollup | None:
        return None  # the rollup holds today's prices

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def priced_on(store: LedgerStore, day: date) -> LedgerStore:
    """``store`` for reading only, its events at the prices they had at the end of ``day`` (UTC)."""
    try:  # a read-only ledger cannot create it: look for it instead
        store.query("SELECT event_uuid FROM price_history LIMIT 1")
    except Exception:  # no such table (each store raises its own error): nothing was ever repriced
        return store
    return cast(LedgerStore, _PricedOnStore(store, day))
