"""The run-index plan: distinct runs from the store's run index, other metrics from one plain query.

Applies when the only per-run metric is the built-in ``runs`` count and the
store's run index can answer the report's groups, filters and window
(``run_counts.index_answers``).
"""

from __future__ import annotations

from typing import Any

from costtrail.reports.metrics import METRICS
from costtrail.reports.plan_sql import PlanRequest, plain_sql
from costtrail.reports.run_counts import index_answers, index_run_counts, key_of


class IndexPlan:
    name = "run-index"
    rule = "runs is the only run metric and the store's run index covers the groups, filters and window"

    def applies(self, request: PlanRequest) -> bool:
        per_run = [m for m in request.sql_metrics if m.per_run or m.needs_runs]
        if per_run != [METRICS["runs"]]:
            return False
        return index_answers(request.store, request.dims, request.filters, request.since) is not None

    def rows(self, request: PlanRequest) -> list[dict[str, Any]]:
        sql_metrics, dims = request.sql_metrics, request.dims
        runs = next(i for i, m in enumerate(sql_metrics) if m.per_run or m.needs_runs)
        counts = index_run_counts(
            request.store, dims, request.filters, request.since, request.until, request.where
        )
        if counts is None:  # applies() said the index answers
            raise RuntimeError("the run index could not answer a report it covers")
        others = [(i, m) for i, m in enumerate(sql_metrics) if i != runs]
        rows = request.store.query(plain_sql(request.dialect, dims, others, request.where, sort_columns=True))
        for row in rows:
            row[f"m{runs}"] = counts.get(key_of(row, len(dims)), 0)
        return request.sorted_and_cut(rows)
