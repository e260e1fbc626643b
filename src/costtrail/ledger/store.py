"""The ledger store protocol: what every store (DuckDB, ClickHouse) provides.

The core speaks to storage only through this protocol. Reports build SQL
through a :class:`Dialect`, so one query definition serves every store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # a read needs neither Arrow nor the schema's models
    import pyarrow as pa

    from costtrail.schema import CostLine, Event, Outcome

from costtrail.ledger.run_index import RunIndex
from costtrail.ledger.usage_rollup import UsageRollup

# How long an event id is remembered whatever ``started_at`` a re-send carries (a missing one
# included). A re-send carrying its original ``started_at`` is recognized for as long as the event
# is kept. Searching stored ids by ingest time keeps an append's lookup to the recent rows.
ID_MEMORY = timedelta(hours=24)


class LedgerError(RuntimeError):
    """A ledger cannot be opened or written; the message says why and what to do."""


class LedgerLockedError(LedgerError):
    """Another process owns the ledger file (one writer per file)."""


@dataclass(frozen=True)
class AppendResult:
    """What an append did: ``accepted`` new rows, ``duplicates`` already stored (by id)."""

    accepted: int
    duplicates: int

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(self.accepted + other.accepted, self.duplicates + other.duplicates)


@dataclass(frozen=True)
class StoreCapabilities:
    """What a store can do, so callers ask the store instead of its class.

    ``concurrent_reads``: queries may run at once from several threads.
    ``deletes_events``: :meth:`LedgerStore.delete_events` removes events (else retention is by TTL).
    """

    concurrent_reads: bool
    deletes_events: bool


class Dialect(Protocol):
    """The SQL spellings and query-plan preferences that differ between stores.

    ``stage_run_counts``: a distinct count of runs is cheaper in two grouping
    stages (per run, then per group) than as one ``count(DISTINCT run_id)``.
    ``status_from_first_stage``: a run's status is cheaper regrouped from the
    first stage's per-(group, run) rows than read again from the events.
    """

    name: str
    stage_run_counts: bool
    status_from_first_stage: bool

    def literal(self, value: Any) -> str:
        """A safely quoted SQL literal for a str/int/Decimal/bool/datetime/None."""
        ...

    def quantile(self, expr: str, q: float) -> str: ...

    def day(self, expr: str) -> str:
        """Truncate a timestamp expression to its UTC day (as a DATE)."""
        ...

    def json_value(self, expr: str, key: str) -> str:
        """Extract a string value from a JSON text column."""
        ...

    def final(self, table: str) -> str:
        """The table reference that reads deduplicated rows (``events FINAL`` on ClickHouse)."""
        ...

    def date_literal(self, value: date) -> str:
        """A DATE literal."""
        ...

    def arg_max(self, value: str, by: str, where: str | None = None) -> str:
        """The aggregate: ``value`` of the row with the largest ``by`` (of the rows matching ``where``)."""
        ...

    def max_where(self, expr: str, where: str) -> str:
        """The aggregate ``max(expr)`` over the rows matching ``where``."""
        ...

    def in_select(self, expr: str, select: str, *, negate: bool = False) -> str:
        """``expr [NOT] IN (select)``: ``GLOBAL IN`` on a cluster (``select`` reads Distributed tables)."""
        ...

    def candidates(self, table: str, predicate: str) -> str:
        """A WHERE condition keeping the rows of which *some* stored version matches ``predicate``.

        ANDed beside ``predicate`` in a deduplicated read, it narrows that read to the few keys a
        selective predicate on a version-varying column (``unpriced``) can match, before the
        store deduplicates them; ``TRUE`` on a store that keeps one version of a row.
        """
        ...

    def ingested_since(self, window: timedelta) -> str:
        """The ``ingested_at`` value ``window`` ago, in the column's own time basis."""
        ...


def id_search(dialect: Dialect, lo: Any, hi: Any, window: timedelta) -> tuple[str, ...]:
    """Where stored copies of a batch's ids are searched (each condition ORed, by itself pruned).

    Rows in the batch's ``started_at`` range (a re-send with its original time, however old),
    and rows ingested in the last ``window`` (a re-send whatever its time, ``ID_MEMORY``).
    """
    in_range = f"started_at BETWEEN {dialect.literal(lo)} AND {dialect.literal(hi)}"
    if window <= timedelta(0):
        return (in_range,)
    return (in_range, f"ingested_at >= {dialect.ingested_since(window)}")


@runtime_checkable
class LedgerStore(Protocol):
    """Append-only, idempotent ledger of events, outcomes and cost lines."""

    url: str
    dialect: Dialect
    id_memory: timedelta  # how long an event id is remembered whatever its started_at (ID_MEMORY)

    def append_events(self, events: Sequence[Event]) -> AppendResult: ...

    def append_event_table(self, table: pa.Table) -> AppendResult:
        """Bulk path: an Arrow table in ``columns.EVENT_SCHEMA`` (idempotent by event_uuid)."""
        ...

    def append_outcomes(self, outcomes: Sequence[Outcome]) -> AppendResult: ...

    def append_cost_lines(self, lines: Sequence[CostLine]) -> AppendResult: ...

    def delete_cost_lines(self, where_sql: str) -> int:
        """Remove cost lines matching a WHERE clause built with this store's dialect (re-run allocations)."""
        ...

    def update_event_costs(self, table: pa.Table) -> int:
        """Set cost_usd, cost_source, price_ref, unpriced by event_uuid (repricing). Returns rows changed."""
        ...

    def query(self, sql: str) -> list[dict[str, Any]]: ...

    def query_arrow(self, sql: str) -> pa.Table: ...

    @property
    def capabilities(self) -> StoreCapabilities: ...

    def ensure_table(self, name: str) -> None:
        """Make sure a table of the schema registry (``ledger/tables.py``) exists (creating it if allowed)."""
        ...

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing on a registry table (``INSERT INTO alerts ...``)."""
        ...

    def delete_rows(self, table: str, where_sql: str) -> int:
        """Delete the rows of a registry table matching a WHERE clause; returns how many matched."""
        ...

    def delete_events(self, where_sql: str) -> int:
        """Delete events matching a WHERE clause (retention); :class:`LedgerError` if the store cannot."""
        ...

    def run_index(self) -> RunIndex | None:
        """Where reports read the run index, or ``None`` when this store keeps none."""
        ...

    def usage_rollup(self) -> UsageRollup | None:
        """Where invoices read the usage rollup (``usage_rollup.py``); ``None`` when the store keeps none."""
        ...

    def checkpoint(self) -> None:
        """Write buffered changes to the store's files (a no-op where there is nothing to write)."""
        ...

    def limit_threads(self, threads: int) -> None:
        """Cap the engine's own worker threads in this process (a no-op for a remote engine)."""
        ...

    def close(self) -> None: ...


def sql_literal(value: Any, *, backslash_escapes: bool = False) -> str:
    """Quote a Python value as an SQL literal (shared by the dialects)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ")
        return f"TIMESTAMP '{text}'" if not backslash_escapes else f"toDateTime64('{text}', 6)"
    text = str(value)
    if backslash_escapes:
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"
