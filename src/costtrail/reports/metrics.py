"""Report metrics as data: a name, an SQL aggregate, a unit.

A :class:`Metric` is an aggregate SQL expression over the report's rows: every
column of the ``events`` table plus ``run_ok`` (true when the event's run
succeeded, false when it did not, NULL for an event outside any run). The
expression may use ``QUANTILE(expr, q)``, which each store spells its own way.
A :class:`Ratio` divides two other metrics in Python, so money stays an exact
``Decimal`` (a database would divide decimals into floats).

Add a metric by defining one and passing it to ``report(metrics=[...])``, or
build a catalog with ``METRICS | {m.name: m}`` and pass ``catalog=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

Unit = Literal["usd", "count", "tokens", "ms", "ratio", "text", "timestamp", "bool"]

MODEL_KINDS_SQL = "kind IN ('llm', 'embedding')"
FAILED_STATUSES_SQL = "status IN ('failure', 'error', 'timeout')"


@dataclass(frozen=True)
class Metric:
    """One aggregate: ``sql`` is evaluated per group over the report's rows.

    ``needs_runs`` marks metrics that read ``run_ok`` (the run success join is
    only built when a requested metric needs it).

    ``null_when_unpriced`` marks a money sum that is ``None`` for a group with no priced event
    (all unpriced): never a ``0`` that reads as a real $0.

    ``parts`` and ``combine`` say how the metric splits into a per-run partial
    aggregate and a combination of those partials (``combine`` names them
    ``$0``, ``$1``, ... and may read ``run_id`` and ``run_ok``, one value per
    partial row). Reports with run success, or with ``per_run`` metrics (a
    distinct count of runs), use them to group by run once and join run status
    to one row per run and group instead of to every event (see ``rollup``);
    a metric without ``combine`` is then computed in a query of its own.
    """

    name: str
    sql: str
    unit: Unit
    description: str
    needs_runs: bool = False
    parts: tuple[str, ...] = ()
    combine: str | None = None
    per_run: bool = False
    null_when_unpriced: bool = False


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two other metrics, computed exactly in Python.

    A zero or missing denominator gives ``None``. Money ratios are ``Decimal``
    rounded to 12 places (the ledger's scale); other ratios are floats.
    """

    name: str
    numerator: str
    denominator: str
    unit: Unit
    description: str


MetricDef = Metric | Ratio


def additive(name: str, sql: str, unit: Unit, description: str) -> Metric:
    """A metric whose per-run partials add up: ``count``, ``sum``."""
    return Metric(name, sql, unit, description, parts=(sql,), combine="sum($0)")


def extreme(name: str, func: Literal["min", "max"], expr: str, unit: Unit, description: str) -> Metric:
    """``min(expr)`` or ``max(expr)``: the extreme of the per-run extremes."""
    sql = f"{func}({expr})"
    return Metric(name, sql, unit, description, parts=(sql,), combine=f"{func}($0)")


def mean(name: str, expr: str, unit: Unit, description: str) -> Metric:
    """``avg(expr)`` as the sum of per-run sums over the sum of per-run counts."""
    return Metric(
        name,
        f"avg({expr})",
        unit,
        description,
        parts=(f"sum({expr})", f"count({expr})"),
        combine="CAST(sum($0) AS DOUBLE) / NULLIF(sum($1), 0)",
    )


def _runs_metric(name: str, combine: str, unit: Unit, description: str, sql: str) -> Metric:
    parts = ("sum(cost_usd)",) if "$0" in combine else ()
    return Metric(name, sql, unit, description, needs_runs=True, parts=parts, combine=combine, per_run=True)


_DEFINITIONS: tuple[MetricDef, ...] = (
    additive("events", "count(*)", "count", "events (model calls, retrievals, tool calls, ...)"),
    additive(
        "model_calls",
        f"sum(CASE WHEN {MODEL_KINDS_SQL} THEN 1 ELSE 0 END)",
        "count",
        "model calls (kind llm or embedding)",
    ),
    replace(
        additive(
            "total_cost", "sum(cost_usd)", "usd", "sum of priced event costs (USD); null when none is priced"
        ),
        null_when_unpriced=True,
    ),
    additive("priced_events", "count(cost_usd)", "count", "events with a cost (computed or reported)"),
    additive(
        "unpriced_events",
        "sum(CASE WHEN unpriced THEN 1 ELSE 0 END)",
        "count",
        "events with no matching price (their cost is not in total_cost)",
    ),
    Metric(
        "runs",
        "count(DISTINCT run_id)",
        "count",
        "distinct runs (run_id) with events in the group",
        combine="count(run_id)",
        per_run=True,
    ),
    _runs_metric(
        "successful_runs",
        "count(CASE WHEN run_ok THEN run_id END)",
        "count",
        "runs that succeeded (successful outcome, else last model event succeeded)",
        sql="count(DISTINCT CASE WHEN run_ok THEN run_id END)",
    ),
    _runs_metric(
        "failed_runs",
        "count(CASE WHEN NOT run_ok THEN run_id END)",
        "count",
        "runs that did not succeed",
        sql="count(DISTINCT CASE WHEN NOT run_ok THEN run_id END)",
    ),
    _runs_metric(
        "failed_run_cost",
        "sum(CASE WHEN NOT run_ok THEN $0 END)",
        "usd",
        "spend that produced no successful result: cost of the group's events in failed runs",
        sql="sum(CASE WHEN NOT run_ok THEN cost_usd END)",
    ),
    Ratio("success_rate", "successful_runs", "runs", "ratio", "successful_runs / runs"),
    Ratio("avg_cost_per_run", "total_cost", "runs", "usd", "total_cost / runs"),
    Ratio(
        "cost_per_successful_run",
        "total_cost",
        "successful_runs",
        "usd",
        "cost per successful completion: total_cost / successful_runs",
    ),
    Ratio("failed_cost_share", "failed_run_cost", "total_cost", "ratio", "failed_run_cost / total_cost"),
    Ratio("avg_cost_per_event", "total_cost", "priced_events", "usd", "total_cost / priced_events"),
    mean("avg_latency_ms", "latency_ms", "ms", "mean latency of events that report one (ms)"),
    Metric("p95_latency_ms", "QUANTILE(latency_ms, 0.95)", "ms", "95th percentile latency (ms)"),
    additive(
        "retried_events",
        "sum(CASE WHEN retry_count > 0 OR status = 'retry' THEN 1 ELSE 0 END)",
        "count",
        "events that were retried (status retry) or are retry attempts (retry_count > 0)",
    ),
    Ratio("retry_rate", "retried_events", "events", "ratio", "retried_events / events"),
    additive("retries", "sum(retry_count)", "count", "sum of retry_count"),
    additive(
        "failed_events",
        f"sum(CASE WHEN {FAILED_STATUSES_SQL} THEN 1 ELSE 0 END)",
        "count",
        "events with status failure, error or timeout",
    ),
    Ratio("failure_rate", "failed_events", "events", "ratio", "failed_events / events"),
    additive("total_input_tokens", "sum(input_tokens)", "tokens", "input tokens (incl. cached)"),
    additive("total_output_tokens", "sum(output_tokens)", "tokens", "output tokens (incl. reasoning)"),
    additive("total_cache_read_tokens", "sum(cache_read_tokens)", "tokens", "cache read tokens"),
    additive("total_cache_write_tokens", "sum(cache_write_tokens)", "tokens", "cache write tokens"),
    additive("total_reasoning_tokens", "sum(reasoning_tokens)", "tokens", "reasoning tokens"),
    mean(
        "avg_input_tokens",
        f"CASE WHEN {MODEL_KINDS_SQL} THEN input_tokens END",
        "tokens",
        "mean input tokens per model call",
    ),
    mean(
        "avg_output_tokens",
        f"CASE WHEN {MODEL_KINDS_SQL} THEN output_tokens END",
        "tokens",
        "mean output tokens per model call",
    ),
    additive("total_tool_calls", "sum(tool_calls)", "count", "tool calls requested by models"),
    additive("total_queries", "sum(query_count)", "count", "retrieval queries"),
    additive("total_payload_bytes", "sum(payload_bytes)", "count", "request payload bytes"),
    Metric("workflows_touched", "count(DISTINCT workflow)", "count", "distinct workflows"),
    Metric("customers", "count(DISTINCT customer_id)", "count", "distinct customers"),
    extreme("first_seen", "min", "started_at", "timestamp", "earliest started_at"),
    extreme("last_seen", "max", "started_at", "timestamp", "latest started_at"),
)

METRICS: Mapping[str, MetricDef] = MappingProxyType({m.name: m for m in _DEFINITIONS})
"""The built-in metric catalog (read-only; extend with ``METRICS | {...}``)."""
