"""SQL the report plans share: run status, metric spelling, the plain grouped query, ordering.

Each plan (``reports/plans/``) builds its queries from these pieces; what a
plan needs to know about one report is a :class:`PlanRequest`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from costtrail.ledger.store import Dialect, LedgerStore
from costtrail.reports.dimensions import Dimension, ReportError, canonical_dimension
from costtrail.reports.filters import FilterValue, TimeBound
from costtrail.reports.metrics import MODEL_KINDS_SQL, Metric, MetricDef, Ratio

_QUANTILE = re.compile(r"QUANTILE\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*([0-9.]+)\s*\)")


@dataclass(frozen=True)
class PlanRequest:
    """One report, resolved: what every plan reads to decide whether it applies and to run.

    ``sql_metrics`` are the SQL aggregates computed (``m<i>`` in raw rows, by position);
    ``wanted`` the requested metrics (ratios included) for ordering; ``where`` the
    report's own filter, ``time_where`` its time window alone.
    """

    store: LedgerStore
    dims: list[Dimension]
    wanted: list[MetricDef]
    sql_metrics: list[Metric]
    filters: Mapping[str, FilterValue] | None
    since: TimeBound
    until: TimeBound
    where: str
    time_where: str
    limit: int | None
    order_by: Sequence[str] | None

    @property
    def dialect(self) -> Dialect:
        return self.store.dialect

    def sorted_and_cut(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows merged in Python, ordered and limited as the SQL would have."""
        rows = sort_rows(rows, order_keys(self.dims, self.wanted, self.sql_metrics, self.order_by))
        return rows[: int(self.limit)] if self.limit is not None else rows


def last_model_status_sql(dialect: Dialect) -> str:
    """The status of a run's last model event (by started_at), as an aggregate."""
    return dialect.arg_max("status", "started_at", MODEL_KINDS_SQL)


def last_model_at_sql(dialect: Dialect) -> str:
    """When a run's last model event started, as an aggregate (NULL or epoch when none)."""
    return dialect.max_where("started_at", MODEL_KINDS_SQL)


def run_outcome_cte(dialect: Dialect) -> str:
    return f"""run_outcome AS (
    SELECT run_id, count(*) AS n, max(CASE WHEN success THEN 1 ELSE 0 END) AS ok
    FROM {dialect.final("outcomes")} GROUP BY run_id
)"""


def run_status_tail(dialect: Dialect) -> str:
    return f"""{run_outcome_cte(dialect)}, run_status AS (
    SELECT r.run_id AS run_id,
           CASE WHEN coalesce(o.n, 0) > 0 THEN o.ok = 1
                ELSE coalesce(r.last_status = 'success', FALSE) END AS run_ok
    FROM run_last r LEFT JOIN run_outcome o ON r.run_id = o.run_id
)"""


def run_status_ctes(dialect: Dialect, time_where: str, scope_where: str | None = None) -> str:
    """CTEs ending in ``run_status(run_id, run_ok)``: a run succeeded if it has a
    successful outcome; with outcomes that are all unsuccessful it failed; with
    none, it succeeded when its last model event did.

    ``scope_where`` (the report's own filters) limits the work to runs that have
    a matching event: a report on one workflow or one run then groups only those
    runs instead of every run in the time range (a semi-join; the figures are in
    bench/RESULTS.md). A run's status still comes from all of its
    events in the time range."""
    events = dialect.final("events")
    scope = ""
    if scope_where and scope_where != time_where:
        runs = f"SELECT run_id FROM {events} WHERE run_id IS NOT NULL AND {scope_where}"
        scope = f" AND {dialect.in_select('run_id', runs)}"
    return f"""run_last AS (
    SELECT run_id, {last_model_status_sql(dialect)} AS last_status
    FROM {events} WHERE run_id IS NOT NULL AND {time_where}{scope} GROUP BY run_id
), {run_status_tail(dialect)}"""


def metric_sql(dialect: Dialect, m: Metric) -> str:
    return spelled(dialect, m.sql)


def spelled(dialect: Dialect, sql: str) -> str:
    return _QUANTILE.sub(lambda g: dialect.quantile(g.group(1), float(g.group(2))), sql)


def plain_sql(
    dialect: Dialect,
    dims: list[Dimension],
    metrics: list[tuple[int, Metric]],
    where: str,
    *,
    sort_columns: bool,
) -> str:
    """The metrics (``m<i>``) over the matching events by group, no run join (``count(*)`` keeps groups)."""
    select = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    if sort_columns:
        select += [f"{d.sort_sql} AS s{i}" for i, d in enumerate(dims) if d.sort_sql]
    select += [f"{metric_sql(dialect, m)} AS m{i}" for i, m in metrics]
    group = f" GROUP BY {', '.join(d.sql for d in dims)}" if dims else ""
    return (
        f"SELECT {', '.join([*select, 'count(*) AS _n'])} FROM {dialect.final('events')} WHERE {where}{group}"
    )


def ordered(
    head: str,
    inner: str,
    dims: list[Dimension],
    wanted: list[MetricDef],
    sql_metrics: list[Metric],
    limit: int | None,
    order_by: Sequence[str] | None,
) -> str:
    order = order_sql(dims, wanted, sql_metrics, order_by)
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    return f"{head}SELECT * FROM ({inner}) AS t ORDER BY {order}{tail}"


OrderKey = tuple[str | tuple[str, str], bool]
"""A column alias (or a ratio's numerator and denominator aliases) and whether descending."""


def order_keys(
    dims: list[Dimension], wanted: list[MetricDef], sql_metrics: list[Metric], order_by: Sequence[str] | None
) -> list[OrderKey]:
    col: dict[str, str | tuple[str, str]] = {m.name: f"m{i}" for i, m in enumerate(sql_metrics)}
    for i, d in enumerate(dims):
        col[d.name] = f"s{i}" if d.sort_sql else f"d{i}"
    for m in wanted:
        if isinstance(m, Ratio):
            num, den = col[m.numerator], col[m.denominator]
            assert isinstance(num, str) and isinstance(den, str)
            col[m.name] = (num, den)
    if order_by is None:
        money = [m.name for m in wanted if m.unit == "usd"]
        order_by = [f"-{money[0]}"] if money else ([f"-{wanted[0].name}"] if wanted else [])
    keys: list[OrderKey] = []
    for item in order_by:
        name, desc = (item[1:], True) if item.startswith("-") else (item, False)
        name = name if name in col else canonical_dimension(name)
        if name not in col:
            raise ReportError(f"cannot order by {name!r}: order by one of {', '.join(col)}")
        keys.append((col[name], desc))
    keys += [(col[d.name], False) for d in dims]
    return keys


def order_sql(
    dims: list[Dimension], wanted: list[MetricDef], sql_metrics: list[Metric], order_by: Sequence[str] | None
) -> str:
    keys = []
    for column, desc in order_keys(dims, wanted, sql_metrics, order_by):
        if isinstance(column, str):
            expr = column
        else:
            expr = f"(CAST({column[0]} AS DOUBLE) / NULLIF({column[1]}, 0))"
        keys.append(f"{expr} {'DESC' if desc else 'ASC'} NULLS LAST")
    return ", ".join(keys) if keys else "1"


def sort_rows(rows: list[dict[str, Any]], keys: list[OrderKey]) -> list[dict[str, Any]]:
    """Python's spelling of :func:`order_sql` (NULLS LAST both ways), for merged results."""

    def value(row: dict[str, Any], column: str | tuple[str, str]) -> Any:
        if isinstance(column, str):
            return row[column]
        num, den = row[column[0]], row[column[1]]
        return None if num is None or not den else float(num) / float(den)

    ordered = list(rows)
    for column, desc in reversed(keys):  # stable sorts, least significant key first
        values = [value(r, column) for r in ordered]
        # (present, value) sorted descending, or (missing, value) ascending: NULLs last either way.
        flagged = [((v is not None) if desc else (v is None), 0 if v is None else v) for v in values]
        # reverse=True keeps equal keys in their order too: Python's sort stays stable.
        order = sorted(range(len(ordered)), key=flagged.__getitem__, reverse=desc)
        ordered = [ordered[i] for i in order]
    return ordered
