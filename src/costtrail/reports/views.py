"""The built-in report views: a name, the dimensions, the metrics and the order.

Each view is data (:class:`View`); :func:`view_report` runs one. The CLI's
``costtrail report --by NAME`` and the dashboard use these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from costtrail.ledger.store import LedgerStore
from costtrail.reports.dimensions import Bands, ReportError, canonical_dimension
from costtrail.reports.filters import NOT_NULL, FilterValue, TimeBound
from costtrail.reports.rollup import ReportResult, report

WORKFLOW_METRICS: tuple[str, ...] = (
    "total_cost",
    "runs",
    "avg_cost_per_run",
    "successful_runs",
    "success_rate",
    "cost_per_successful_run",
    "avg_latency_ms",
    "p95_latency_ms",
    "retry_rate",
    "events",
    "unpriced_events",
)

BUSINESS_METRICS: tuple[str, ...] = (
    "total_cost",
    "runs",
    "avg_cost_per_run",
    "successful_runs",
    "cost_per_successful_run",
    "events",
    "total_input_tokens",
    "total_output_tokens",
    "unpriced_events",
)

BAND_METRICS: tuple[str, ...] = (
    "events",
    "total_cost",
    "avg_cost_per_event",
    "avg_input_tokens",
    "avg_latency_ms",
    "p95_latency_ms",
    "failure_rate",
    "unpriced_events",
)


@dataclass(frozen=True)
class View:
    """A named report: group by ``by``, compute ``metrics``, order by ``order_by``."""

    name: str
    by: tuple[str, ...]
    metrics: tuple[str, ...]
    description: str
    order_by: tuple[str, ...] | None = None
    filters: Mapping[str, FilterValue] = field(default_factory=dict)


_VIEWS: tuple[View, ...] = (
    View("workflow", ("workflow",), WORKFLOW_METRICS, "cost, runs and success per workflow"),
    View(
        "agent",
        ("agent",),
        (
            "total_cost",
            "events",
            "model_calls",
            "avg_input_tokens",
            "avg_output_tokens",
            "retry_rate",
            "avg_latency_ms",
            "unpriced_events",
        ),
        "cost, tokens, retries and latency per agent",
    ),
    View(
        "model",
        ("provider", "model"),
        (
            "total_cost",
            "model_calls",
            "total_input_tokens",
            "total_cache_read_tokens",
            "total_output_tokens",
            "avg_cost_per_event",
            "avg_latency_ms",
            "p95_latency_ms",
            "failure_rate",
            "unpriced_events",
        ),
        "the model mix: cost, calls and tokens per provider and model",
    ),
    View(
        "tool",
        ("tool_name",),
        ("events", "failure_rate", "avg_latency_ms", "p95_latency_ms", "workflows_touched", "total_cost"),
        "tool call volume (events naming a tool), failure rate, latency, workflows touched",
        order_by=("-events",),
        filters={"tool_name": NOT_NULL},
    ),
    View(
        "step",
        ("workflow", "step"),
        (
            "total_cost",
            "events",
            "runs",
            "avg_cost_per_run",
            "retry_rate",
            "failure_rate",
            "avg_latency_ms",
            "p95_latency_ms",
            "unpriced_events",
        ),
        "cost, retries and latency per step of each workflow",
    ),
    View(
        "payload-band",
        ("payload_band",),
        BAND_METRICS,
        "events by request size (payload_bytes bands)",
        ("payload_band",),
    ),
    View(
        "input-band",
        ("input_band",),
        BAND_METRICS,
        "events by input size (input_tokens bands)",
        ("input_band",),
    ),
    View("feature", ("feature",), BUSINESS_METRICS, "cost per feature"),
    View("customer", ("customer_id",), BUSINESS_METRICS, "cost per customer"),
    View("tenant", ("tenant_id",), BUSINESS_METRICS, "cost per tenant"),
    View("environment", ("environment",), BUSINESS_METRICS, "cost per environment"),
    View(
        "day",
        ("day",),
        ("total_cost", "events", "runs", "successful_runs", "cost_per_successful_run", "unpriced_events"),
        "the daily trend (UTC days)",
        ("day",),
    ),
    View(
        "failed",
        ("workflow",),
        ("runs", "failed_runs", "failed_run_cost", "total_cost", "failed_cost_share"),
        "spend that produced no successful result, per workflow",
        ("-failed_run_cost",),
    ),
)

VIEWS: Mapping[str, View] = MappingProxyType({v.name: v for v in _VIEWS})
"""Built-in views by name (a view's dimension name also finds it: ``customer_id``, ``tool_name``)."""


def view_names() -> list[str]:
    """The names of the built-in views."""
    return [v.name for v in _VIEWS]


def get_view(name: str) -> View:
    """A built-in view by its name or by its single dimension's name (``customer_id`` -> ``customer``)."""
    if name in VIEWS:
        return VIEWS[name]
    canonical = canonical_dimension(name)
    for view in _VIEWS:
        if view.by == (canonical,):
            return view
    raise ReportError(f"unknown report {name!r}: choose one of {', '.join(view_names())}")


def view_report(
    store: LedgerStore,
    name: str,
    filters: Mapping[str, FilterValue] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
    limit: int | None = None,
    *,
    payload_bands: Bands | None = None,
    input_bands: Bands | None = None,
) -> ReportResult:
    """Run a built-in view, e.g. ``view_report(store, "workflow", since=date(2026, 3, 1))``."""
    view = get_view(name)
    return report(
        store,
        by=view.by,
        metrics=view.metrics,
        filters={**view.filters, **(filters or {})},
        since=since,
        until=until,
        limit=limit,
        order_by=view.order_by,
        payload_bands=payload_bands,
        input_bands=input_bands,
    )


def failed_spend(
    store: LedgerStore,
    by: tuple[str, ...] = ("workflow",),
    filters: Mapping[str, FilterValue] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
) -> ReportResult:
    """Spend that produced no successful result: cost of failed runs per ``by`` group."""
    view = VIEWS["failed"]
    return report(
        store, by=by, metrics=view.metrics, filters=filters, since=since, until=until, order_by=view.order_by
    )
