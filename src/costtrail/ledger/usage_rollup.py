"""The usage rollup: what invoices read instead of every event of a period.

Pricing a month for every customer needs, per customer, sums of the
events' tokens, calls and cost (narrowed by a charge's ``where``), and the
runs and successful runs. Over 10M events the grouped scan and the run status
(every event grouped by run) are most of the time. The rollup keeps both
small, maintained with the events:

* ``usage_daily``: one row per day x customer x the dimensions a charge can
  filter on x price ref x priced-or-not, with the sums (events, calls, cost,
  and per token class its sum, the events that have some and their cost).
  It is additive: an append adds the inserted events' rows, a reprice adds
  the old prices negated and the new ones, a delete adds the deleted rows
  negated; reads sum whatever rows there are, and a compaction regroups them.
* ``run_usage`` (plus ``run_usage_delta``, as the run index): one row per
  run, with its customer's smallest and largest value (and whether any event
  had none), first and last day, when its last model event started and that
  event's status, its priced cost and unpriced events. A run whose events
  all name one customer and fall inside a period is that customer's run,
  whole: runs and successful runs are counted from these rows, and only runs
  cut by the period's edges (or shared by customers) are read from events.
  A delete or a reprice rebuilds the rows of the runs it touches.

DuckDB keeps the rollup (``DuckDBStore.usage_rollup``); a store that keeps
none answers ``None`` and invoices read the events.
"""

from __future__ import annotations

from dataclasses import dataclass

from costtrail.schema.events import TOKEN_FIELDS

USAGE_DAILY = "usage_daily"
RUN_USAGE = "run_usage"
RUN_USAGE_DELTA = "run_usage_delta"
USAGE_ROLLUP_TABLES: tuple[str, ...] = (USAGE_DAILY, RUN_USAGE, RUN_USAGE_DELTA)
_RUN_TABLES = (RUN_USAGE, RUN_USAGE_DELTA)

USAGE_DIMS: tuple[str, ...] = (
    "plan_tier",
    "kind",
    "provider",
    "model",
    "service_tier",
    "workflow",
    "feature",
    "product",
    "environment",
    "tenant_id",
    "team",
)
"""The event columns a daily row keeps as they are (a charge's ``where`` filters on them)."""

_MODEL_KINDS = "kind IN ('llm', 'embedding')"
_COST = "DECIMAL(38,12)"


@dataclass(frozen=True)
class UsageRollup:
    """Where a store's rollup can be read: ``daily`` (a table, rows to be summed) and ``runs`` (a
    table or subquery with one row per run)."""

    daily: str
    runs: str


def token_columns(token: str) -> tuple[str, str, str]:
    """A token class's sum, count of events with some, and those events' cost (daily columns)."""
    return token, f"{token}_events", f"{token}_cost"


def daily_ddl() -> str:
    cols = ["day DATE NOT NULL", "customer_id VARCHAR NOT NULL"]
    cols += [f"{d} VARCHAR" for d in USAGE_DIMS]
    cols += ["price_ref VARCHAR", "unpriced BOOLEAN NOT NULL"]
    cols += ["events BIGINT NOT NULL", "request_count BIGINT NOT NULL", f"cost_usd {_COST}"]
    for t in TOKEN_FIELDS:
        total, n, cost = token_columns(t)
        cols += [f"{total} BIGINT NOT NULL", f"{n} BIGINT NOT NULL", f"{cost} {_COST}"]
    body = ",\n  ".join(cols)
    return f"CREATE TABLE IF NOT EXISTS {USAGE_DAILY} (\n  {body}\n)"


_KEYS = ("day", "customer_id", *USAGE_DIMS, "price_ref", "unpriced")


def _sums(sign: str) -> list[str]:
    cols = [
        f"{sign}count(*) AS events",
        f"{sign}sum(request_count) AS request_count",
        f"{sign}sum(cost_usd) AS cost_usd",
    ]
    for t in TOKEN_FIELDS:
        total, n, cost = token_columns(t)
        cols += [
            f"{sign}sum({t}) AS {total}",
            f"{sign}count(*) FILTER (WHERE {t} > 0) AS {n}",
            f"{sign}sum(cost_usd) FILTER (WHERE {t} > 0) AS {cost}",
        ]
    return cols


def daily_partials_sql(source: str, *, negate: bool = False) -> str:
    """Daily rows of the customers' events in ``source`` (negated: what removing them takes away)."""
    keys = ["CAST(started_at AS DATE) AS day", *_KEYS[1:]]
    return (
        f"SELECT {', '.join([*keys, *_sums('-' if negate else '')])} FROM {source} "
        f"WHERE customer_id IS NOT NULL GROUP BY ALL"
    )


def daily_compaction() -> list[str]:
    """Statements (one transaction) that regroup the daily rows, dropping keys with nothing left."""
    sums = [f"sum({c}) AS {c}" for c in _value_columns()]
    keys = ", ".join(_KEYS)
    return [
        f"CREATE OR REPLACE TEMP TABLE _usage_daily_merged AS SELECT {keys}, {', '.join(sums)} "
        f"FROM {USAGE_DAILY} GROUP BY ALL HAVING sum(events) <> 0",
        f"DELETE FROM {USAGE_DAILY}",
        f"INSERT INTO {USAGE_DAILY} BY NAME SELECT * FROM _usage_daily_merged",
        "DROP TABLE _usage_daily_merged",
    ]


def _value_columns() -> list[str]:
    cols = ["events", "request_count", "cost_usd"]
    for t in TOKEN_FIELDS:
        cols += list(token_columns(t))
    return cols


def runs_ddl() -> list[str]:
    cols = (
        "run_id VARCHAR NOT NULL, customer_lo VARCHAR, customer_hi VARCHAR, customer_null BOOLEAN NOT NULL, "
        "day_lo DATE NOT NULL, day_hi DATE NOT NULL, last_model_at TIMESTAMP, last_model_status VARCHAR, "
        f"cost_usd {_COST}, unpriced_events BIGINT NOT NULL, events BIGINT NOT NULL"
    )
    return [f"CREATE TABLE IF NOT EXISTS {t} ({cols})" for t in (RUN_USAGE, RUN_USAGE_DELTA)]


def run_partials_sql(source: str) -> str:
    """One partial row per run of ``source``."""
    return (
        "SELECT run_id, min(customer_id) AS customer_lo, max(customer_id) AS customer_hi, "
        "bool_or(customer_id IS NULL) AS customer_null, "
        "min(CAST(started_at AS DATE)) AS day_lo, max(CAST(started_at AS DATE)) AS day_hi, "
        f"max(started_at) FILTER (WHERE {_MODEL_KINDS}) AS last_model_at, "
        f"arg_max(status, started_at) FILTER (WHERE {_MODEL_KINDS}) AS last_model_status, "
        "sum(cost_usd) FILTER (WHERE NOT unpriced) AS cost_usd, "
        "count(*) FILTER (WHERE unpriced) AS unpriced_events, count(*) AS events "
        f"FROM {source} WHERE run_id IS NOT NULL GROUP BY run_id"
    )


_RUN_MERGE = (
    "min(customer_lo) AS customer_lo, max(customer_hi) AS customer_hi, "
    "bool_or(customer_null) AS customer_null, min(day_lo) AS day_lo, max(day_hi) AS day_hi, "
    "max(last_model_at) AS last_model_at, arg_max(last_model_status, last_model_at) AS last_model_status, "
    "sum(cost_usd) AS cost_usd, sum(unpriced_events) AS unpriced_events, sum(events) AS events"
)


def runs_merged_relation() -> str:
    """The run rows with the delta folded in at read time."""
    return (
        f"(SELECT run_id, {_RUN_MERGE} FROM (SELECT * FROM {RUN_USAGE} UNION ALL "
        f"SELECT * FROM {RUN_USAGE_DELTA}) GROUP BY run_id)"
    )


def runs_compaction() -> list[str]:
    return [
        f"CREATE OR REPLACE TEMP TABLE _run_usage_merged AS SELECT run_id, {_RUN_MERGE} FROM ("
        f"SELECT * FROM {RUN_USAGE} SEMI JOIN {RUN_USAGE_DELTA} USING (run_id) "
        f"UNION ALL SELECT * FROM {RUN_USAGE_DELTA}) GROUP BY run_id",
        f"DELETE FROM {RUN_USAGE} WHERE run_id IN (SELECT run_id FROM _run_usage_merged)",
        f"INSERT INTO {RUN_USAGE} BY NAME SELECT * FROM _run_usage_merged",
        f"DELETE FROM {RUN_USAGE_DELTA}",
        "DROP TABLE _run_usage_merged",
    ]


def runs_refresh(touched: str) -> list[str]:
    """Statements that rebuild the rows of the runs in the table ``touched`` (``run_id``) from events."""
    left = f"(SELECT * FROM events WHERE run_id IN (SELECT run_id FROM {touched}))"
    return [
        *(f"DELETE FROM {t} WHERE run_id IN (SELECT run_id FROM {touched})" for t in _RUN_TABLES),
        f"INSERT INTO {RUN_USAGE} BY NAME {run_partials_sql(left)}",
    ]
