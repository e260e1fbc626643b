"""Copying a ledger from one store to another (DuckDB -> ClickHouse), resumable and verified.

The copy goes day by day. A day whose row count and cost sum already match
on the destination is skipped, so an interrupted copy resumes where it
stopped; a partly copied day is copied again, and the destination's
idempotent appends store nothing twice. At the end every day is verified by
row count and cost sum on both sides.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from costtrail.ledger.columns import COST_LINE_SCHEMA, EVENT_SCHEMA, OUTCOME_SCHEMA
from costtrail.ledger.store import AppendResult, LedgerStore
from costtrail.schema import CostLine, Outcome

# (table, time column, money column, Arrow schema)
_TABLES: tuple[tuple[str, str, str, pa.Schema], ...] = (
    ("events", "started_at", "cost_usd", EVENT_SCHEMA),
    ("outcomes", "recorded_at", "value_usd", OUTCOME_SCHEMA),
    ("cost_lines", "charge_period_start", "billed_cost", COST_LINE_SCHEMA),
)

Progress = Callable[[str, int], None]
"""Called with (table, rows just handled) as the copy advances."""


@dataclass(frozen=True)
class DayTotals:
    rows: int
    money: Decimal


@dataclass
class TableReport:
    """What happened to one table: rows copied, days skipped as already complete, mismatches left."""

    table: str
    source_rows: int = 0
    copied: int = 0
    duplicates: int = 0
    days_skipped: int = 0
    mismatched_days: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "source_rows": self.source_rows,
            "copied": self.copied,
            "duplicates": self.duplicates,
            "days_skipped": self.days_skipped,
            "mismatched_days": self.mismatched_days,
            "verified": not self.mismatched_days,
        }


def day_totals(store: LedgerStore, table: str, time_col: str, money_col: str) -> dict[date, DayTotals]:
    """Rows and money per UTC day of one table, read deduplicated."""
    d = store.dialect
    rows = store.query(
        f"SELECT {d.day(time_col)} AS day, count(*) AS n, sum({money_col}) AS money "
        f"FROM {d.final(table)} GROUP BY day ORDER BY day"
    )
    return {_as_date(r["day"]): DayTotals(int(r["n"]), Decimal(r["money"] or 0)) for r in rows}


def total_rows(source: LedgerStore) -> dict[str, int]:
    """Rows per table in the source (for a progress bar's total)."""
    out = {}
    for table, _, _, _ in _TABLES:
        out[table] = int(source.query(f"SELECT count(*) AS n FROM {source.dialect.final(table)}")[0]["n"])
    return out


def copy_ledger(
    source: LedgerStore, dest: LedgerStore, *, batch_rows: int = 100_000, progress: Progress | None = None
) -> list[TableReport]:
    """Copy events, outcomes and cost lines; returns one verified report per table."""
    reports = []
    for table, time_col, money_col, schema in _TABLES:
        report = TableReport(table)
        src_days = day_totals(source, table, time_col, money_col)
        dst_days = day_totals(dest, table, time_col, money_col)
        report.source_rows = sum(t.rows for t in src_days.values())
        for day, totals in src_days.items():
            if dst_days.get(day) == totals:
                report.days_skipped += 1
                if progress:
                    progress(table, totals.rows)
                continue
            result = _copy_day(source, dest, table, time_col, schema, day, batch_rows, progress)
            report.copied += result.accepted
            report.duplicates += result.duplicates
        after = day_totals(dest, table, time_col, money_col)
        report.mismatched_days = [d.isoformat() for d, t in src_days.items() if after.get(d) != t]
        reports.append(report)
    return reports


def _copy_day(
    source: LedgerStore,
    dest: LedgerStore,
    table: str,
    time_col: str,
    schema: pa.Schema,
    day: date,
    batch_rows: int,
    progress: Progress | None,
) -> AppendResult:
    d = source.dialect
    start = datetime.combine(day, time.min)
    names = ", ".join(schema.names)
    where = f"{time_col} >= {d.literal(start)} AND {time_col} < {d.literal(start + timedelta(days=1))}"
    data = source.query_arrow(f"SELECT {names} FROM {d.final(table)} WHERE {where}")
    result = AppendResult(0, 0)
    for offset in range(0, data.num_rows, batch_rows):
        chunk = conform(data.slice(offset, batch_rows), schema)
        result += _append(dest, table, chunk)
        if progress:
            progress(table, chunk.num_rows)
    return result


def _append(dest: LedgerStore, table: str, chunk: pa.Table) -> AppendResult:
    if table == "events":
        return dest.append_event_table(chunk)
    # Outcomes and cost lines are few: they go through the models and each store's key check.
    json_key = "attributes" if table == "outcomes" else "tags"
    rows = [{k: v for k, v in r.items() if v is not None} for r in chunk.to_pylist()]
    for r in rows:
        if isinstance(r.get(json_key), str):
            r[json_key] = json.loads(r[json_key])
    if table == "outcomes":
        return dest.append_outcomes([Outcome.model_validate(r) for r in rows])
    return dest.append_cost_lines([CostLine.model_validate(r) for r in rows])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a store's Arrow output to the ledger's bulk schema (UUID text -> 16 bytes, naive UTC time)."""
    columns = []
    for f in schema:
        column = table.column(f.name)
        if f.type == pa.binary(16) and column.type != f.type:
            column = pa.array(
                [None if v is None else _uuid_bytes(v) for v in column.to_pylist()], pa.binary(16)
            )
        elif column.type != f.type:
            column = column.cast(f.type)
        if not f.nullable and column.null_count:
            # Arrow would carry the nulls under a non-null field and the engine reject the batch.
            raise ValueError(
                f"column {f.name!r} has {column.null_count} NULL values but the ledger requires a value: "
                "fill it (0 for a count) before copying"
            )
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _uuid_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray) and len(value) == 16:
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return value.bytes
    return uuid.UUID(str(value)).bytes


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
