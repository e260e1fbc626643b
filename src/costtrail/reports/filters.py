"""Report filters and time windows: the WHERE clause every report and view shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from costtrail.ledger.store import Dialect
from costtrail.reports.dimensions import Bands, Dimension, ReportError, resolve_dimension


class NotNull:
    """Filter value matching any present (non-NULL) value: ``filters={"tool_name": NOT_NULL}``."""

    def __repr__(self) -> str:
        return "NOT_NULL"


NOT_NULL = NotNull()

FilterValue = str | int | None | NotNull | Sequence[str | int | None]
TimeBound = datetime | date | None


def utc_naive(value: TimeBound) -> datetime | None:
    """A time bound as a naive UTC datetime (dates mean their UTC midnight)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def where_clause(
    dialect: Dialect,
    filters: Mapping[str, FilterValue] | None,
    since: TimeBound,
    until: TimeBound,
    *,
    payload_bands: Bands | None = None,
    input_bands: Bands | None = None,
) -> str:
    """The WHERE condition for a time window (``since`` inclusive, ``until`` exclusive) and filters."""
    parts: list[str] = []
    lo, hi = utc_naive(since), utc_naive(until)
    if lo is not None:
        parts.append(f"started_at >= {dialect.literal(lo)}")
    if hi is not None:
        parts.append(f"started_at < {dialect.literal(hi)}")
    for name, value in (filters or {}).items():
        dim = resolve_dimension(name, dialect, payload_bands, input_bands)
        parts.append(filter_sql(dialect, dim, value))
    return " AND ".join(parts) if parts else "TRUE"


def _day(value: object) -> None:
    if value is None:
        return
    try:
        date.fromisoformat(str(value))
    except ValueError:
        raise ReportError(f"day filter {value!r} is not a day: use YYYY-MM-DD, e.g. day:2026-03-01") from None


def filter_sql(dialect: Dialect, dim: Dimension, value: FilterValue) -> str:
    """``dim`` matches ``value``: one value, a list (``None`` for missing), or ``NOT_NULL``."""
    if isinstance(value, NotNull):
        return f"{dim.sql} IS NOT NULL"
    values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    if not values:
        raise ReportError(f"filter on {dim.name} has no values")
    if dim.name == "day":
        for v in values:
            _day(v)
    conds: list[str] = []
    present = [v for v in values if v is not None]
    if present:
        conds.append(f"{dim.sql} IN ({', '.join(dialect.literal(str(v)) for v in present)})")
    if len(present) < len(values):
        conds.append(f"{dim.sql} IS NULL")
    return "(" + " OR ".join(conds) + ")"
