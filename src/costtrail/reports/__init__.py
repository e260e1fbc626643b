"""Reports: rollups by workflow, agent, model, tool, step, feature, customer, ... over any store.

The core of every report is :func:`report`: dimensions in, metrics out, the
aggregation done by the database, money as ``Decimal``. Built-in views
(:data:`VIEWS`, :func:`view_report`) and run reports (:func:`top_runs`,
:func:`run_steps`, :func:`run_costs`, :func:`failed_spend`) sit on top.
"""

from costtrail.reports.dimensions import (
    Bands,
    Dimension,
    ReportError,
    canonical_dimension,
    dimension_names,
    resolve_dimension,
)
from costtrail.reports.filters import NOT_NULL, FilterValue, where_clause
from costtrail.reports.metrics import METRICS, Metric, MetricDef, Ratio
from costtrail.reports.plan_sql import run_outcome_cte
from costtrail.reports.rollup import (
    DEFAULT_METRICS,
    ReportResult,
    UnpricedLine,
    report,
    run_status_ctes,
    unpriced_line,
)
from costtrail.reports.runs import AmbiguousRunId, resolve_run_id, run_costs, run_steps, top_runs
from costtrail.reports.timespec import parse_time
from costtrail.reports.views import VIEWS, View, failed_spend, get_view, view_names, view_report

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "NOT_NULL",
    "VIEWS",
    "AmbiguousRunId",
    "Bands",
    "Dimension",
    "FilterValue",
    "Metric",
    "MetricDef",
    "Ratio",
    "ReportError",
    "ReportResult",
    "UnpricedLine",
    "View",
    "canonical_dimension",
    "dimension_names",
    "failed_spend",
    "get_view",
    "parse_time",
    "report",
    "resolve_dimension",
    "resolve_run_id",
    "run_costs",
    "run_outcome_cte",
    "run_status_ctes",
    "run_steps",
    "top_runs",
    "unpriced_line",
    "view_names",
    "view_report",
    "where_clause",
]
