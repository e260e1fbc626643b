"""The run index: one row per run saying which days and attribution values its events have.

Counting distinct runs by workflow x day over 10M events groups 2.5M run ids,
most of the time of such a report. The index answers it without that
grouping: for each run it keeps, per attribution dimension, the smallest and
largest value of its events and whether any event had none (NULL), and its
first and last day. A run whose events all share one value of every
dimension a report groups or filters by, and one day, counts once in that
group: a plain ``count(*)``. The other runs (a run that crossed midnight or
changed workflow) are few and are counted from their events.

The index is a superset summary: it is only ever widened (``min`` of more
values, ``max`` of more values). A run it calls single-valued really is, so
counts from it are exact; a run it cannot decide is counted from events.
A re-sent id whose copy says something else at most widens a run (it is then
counted from its events); repricing changes no attribution. Deleting events
would leave rows for runs that are gone: ``DuckDBStore.delete_events``
rebuilds the runs it touches, and reports on a ClickHouse ledger with a
retention TTL read the index only for windows the TTL cannot have reached
(``RunIndex.complete_since``).

DuckDB keeps the index in two tables: ``run_index`` (one row per run) and
``run_index_delta`` (one row per run per append, written in the append's
transaction); reads merge the two, and a compaction folds the delta in when it
grows. ClickHouse keeps it in an ``AggregatingMergeTree`` filled by a
materialized view on ``events``; its merges do the folding and ``FINAL``
reads merge what is left.

ClickHouse keeps a second index, ``run_day_index``: one row per run and UTC day,
sorted by day first. Reports that group by day read it. Per day, a run is
decided when its events of that day share each value a report uses, so a run
that crosses midnight is decided on each of its days; and a burst of today's
new runs lands in parts whose key range covers today only, so the ``FINAL``
merge of a read overlaps only today's rows (run ids sort among all the stored
ones: in the per-run index a fresh part overlaps every key range and ``FINAL``
merges the whole index; bench/RESULTS.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

RUN_INDEX_TABLE = "run_index"
RUN_INDEX_DELTA = "run_index_delta"
RUN_INDEX_VIEW = "run_index_mv"
RUN_DAY_INDEX_TABLE = "run_day_index"
RUN_DAY_INDEX_VIEW = "run_day_index_mv"

RUN_INDEX_DIMS: tuple[str, ...] = (
    "tenant_id",
    "environment",
    "workflow",
    "feature",
    "product",
    "customer_id",
    "plan_tier",
    "team",
    "cost_center",
)
"""Attribution dimensions a run usually keeps for all of its events."""


@dataclass(frozen=True)
class RunIndex:
    """Where a store's run index can be read.

    ``relation`` is a table name or a parenthesized subquery with one row per
    run: ``run_id``, ``day_lo``, ``day_hi`` and, for each of
    :data:`RUN_INDEX_DIMS`, ``<dim>_lo``, ``<dim>_hi`` and ``<dim>_null``.
    ``complete_since``, when set, is the first day the index is exact from
    (a retention TTL removes old events and old index rows at different times).
    ``read_once``: see the attribute.
    """

    relation: str
    complete_since: date | None = None
    read_once: bool = False
    """Read the index once, returning decided counts and undecided runs' ids together (an index
    read costs more than the second query: ClickHouse merges it through FINAL)."""
    by_day: str | None = None
    """A relation with one row per run and UTC day (``run_id``, ``day`` and the dimension columns
    above), for reports grouped by day; read once, like ``read_once``."""


def single_sql(dim: str, alias: str = "") -> str:
    """True when every event of the run has the same value of ``dim`` (NULL included)."""
    p = f"{alias}." if alias else ""
    return f"({p}{dim}_lo IS NULL OR ({p}{dim}_lo = {p}{dim}_hi AND NOT {p}{dim}_null))"


def _dim_partials(null_flag: str) -> list[str]:
    cols = []
    for d in RUN_INDEX_DIMS:
        cols += [f"min({d}) AS {d}_lo", f"max({d}) AS {d}_hi", f"max({null_flag.format(d=d)}) AS {d}_null"]
    return cols


def _partial_columns(day_expr: str, null_flag: str) -> list[str]:
    return [f"min({day_expr}) AS day_lo", f"max({day_expr}) AS day_hi", *_dim_partials(null_flag)]


def duckdb_partials_sql(source: str) -> str:
    """One partial index row per run of ``source`` (the events table or a batch), DuckDB."""
    cols = ", ".join(_partial_columns("CAST(started_at AS DATE)", "{d} IS NULL"))
    return f"SELECT run_id, {cols} FROM {source} WHERE run_id IS NOT NULL GROUP BY run_id"


def clickhouse_partials_sql(source: str) -> str:
    """The same partial rows for ClickHouse (the materialized view's query)."""
    cols = ", ".join(_partial_columns("toDate(started_at)", "toUInt8(isNull({d}))"))
    return (
        f"SELECT assumeNotNull(run_id) AS run_id, {cols} FROM {source} "
        "WHERE run_id IS NOT NULL GROUP BY run_id"
    )


def clickhouse_day_partials_sql(source: str) -> str:
    """One partial row per run and UTC day of ``source`` (the by-day index's materialized view)."""
    cols = ", ".join(_dim_partials("toUInt8(isNull({d}))"))
    return (
        f"SELECT toDate(started_at) AS day, assumeNotNull(run_id) AS run_id, {cols} FROM {source} "
        "WHERE run_id IS NOT NULL GROUP BY day, run_id"
    )


def _merge_columns() -> str:
    cols = ["min(day_lo) AS day_lo", "max(day_hi) AS day_hi"]
    for d in RUN_INDEX_DIMS:
        cols += [f"min({d}_lo) AS {d}_lo", f"max({d}_hi) AS {d}_hi", f"bool_or({d}_null) AS {d}_null"]
    return ", ".join(cols)


def duckdb_ddl() -> list[str]:
    """The index and its delta (same shape)."""
    cols = ["run_id VARCHAR NOT NULL", "day_lo DATE NOT NULL", "day_hi DATE NOT NULL"]
    for d in RUN_INDEX_DIMS:
        cols += [f"{d}_lo VARCHAR", f"{d}_hi VARCHAR", f"{d}_null BOOLEAN NOT NULL"]
    body = ",\n  ".join(cols)
    return [f"CREATE TABLE IF NOT EXISTS {t} (\n  {body}\n)" for t in (RUN_INDEX_TABLE, RUN_INDEX_DELTA)]


def duckdb_merged_relation() -> str:
    """The index with the delta folded in at read time: one outer join, the delta grouped by run first.

    DuckDB's ``least``/``greatest`` skip NULLs, as ``min``/``max`` do.
    """
    cols = [
        "coalesce(i.run_id, d.run_id) AS run_id",
        "least(i.day_lo, d.day_lo) AS day_lo",
        "greatest(i.day_hi, d.day_hi) AS day_hi",
    ]
    for x in RUN_INDEX_DIMS:
        cols += [
            f"least(i.{x}_lo, d.{x}_lo) AS {x}_lo",
            f"greatest(i.{x}_hi, d.{x}_hi) AS {x}_hi",
            f"(coalesce(i.{x}_null, FALSE) OR coalesce(d.{x}_null, FALSE)) AS {x}_null",
        ]
    return f"""(
    WITH _d AS (SELECT run_id, {_merge_columns()} FROM {RUN_INDEX_DELTA} GROUP BY run_id)
    SELECT {", ".join(cols)} FROM {RUN_INDEX_TABLE} AS i FULL OUTER JOIN _d AS d ON i.run_id = d.run_id
)"""


def duckdb_compaction() -> list[str]:
    """Statements (one transaction) that fold the delta into the index and empty it."""
    merge = _merge_columns()
    return [
        f"""CREATE OR REPLACE TEMP TABLE _run_index_merged AS
            SELECT run_id, {merge} FROM (
                SELECT * FROM {RUN_INDEX_TABLE} SEMI JOIN {RUN_INDEX_DELTA} USING (run_id)
                UNION ALL BY NAME SELECT * FROM {RUN_INDEX_DELTA}
            ) GROUP BY run_id""",
        f"DELETE FROM {RUN_INDEX_TABLE} WHERE run_id IN (SELECT run_id FROM _run_index_merged)",
        f"INSERT INTO {RUN_INDEX_TABLE} BY NAME SELECT * FROM _run_index_merged",
        f"DELETE FROM {RUN_INDEX_DELTA}",
        "DROP TABLE _run_index_merged",
    ]


def clickhouse_columns() -> str:
    """Column list of the ClickHouse index table (simple aggregates merged by the engine)."""
    cols = [
        "run_id String",
        "day_lo SimpleAggregateFunction(min, Date)",
        "day_hi SimpleAggregateFunction(max, Date)",
    ]
    return ",\n  ".join(cols + _clickhouse_dim_columns())


def clickhouse_day_columns() -> str:
    """Column list of the ClickHouse by-day index table (its key: ``day``, ``run_id``)."""
    return ",\n  ".join(["day Date", "run_id String", *_clickhouse_dim_columns()])


def _clickhouse_dim_columns() -> list[str]:
    cols: list[str] = []
    for d in RUN_INDEX_DIMS:
        cols += [
            f"{d}_lo SimpleAggregateFunction(min, Nullable(String))",
            f"{d}_hi SimpleAggregateFunction(max, Nullable(String))",
            f"{d}_null SimpleAggregateFunction(max, UInt8)",
        ]
    return cols
