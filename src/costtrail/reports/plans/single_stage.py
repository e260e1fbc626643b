"""The single-stage plan: one query, every metric over the matching events.

Applies when no metric needs per-run partials (no run success; on stores whose
dialect does not stage run counts, no distinct count of runs either), and
whenever some per-run metric has no ``combine`` (it cannot be split per run).
It is also the reference the other plans must match
(tests/contract/test_contract_report_plans.py).
"""

from __future__ import annotations

from typing import Any

from costtrail.reports.plan_sql import PlanRequest, metric_sql, ordered, run_status_ctes


class SingleStagePlan:
    name = "single-stage"
    rule = "always (the fallback): run status, when needed, joined to every matching event"

    def applies(self, request: PlanRequest) -> bool:
        return True

    def rows(self, request: PlanRequest) -> list[dict[str, Any]]:
        return request.store.query(single_stage_sql(request))


def single_stage_sql(request: PlanRequest) -> str:
    """One single-stage query: every metric over the matching events (joined to run status if needed)."""
    dialect, dims, where = request.dialect, request.dims, request.where
    events = dialect.final("events")
    needs_runs = any(m.needs_runs for m in request.sql_metrics)
    select = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    select += [f"{d.sort_sql} AS s{i}" for i, d in enumerate(dims) if d.sort_sql]
    select += [f"{metric_sql(dialect, m)} AS m{i}" for i, m in enumerate(request.sql_metrics)]
    group = f" GROUP BY {', '.join(d.sql for d in dims)}" if dims else ""
    if needs_runs:
        head = f"WITH {run_status_ctes(dialect, request.time_where, where)}, ev AS (\n"
        head += "    SELECT e.*, CASE WHEN e.run_id IS NULL THEN NULL ELSE s.run_ok END AS run_ok\n"
        head += f"    FROM (SELECT * FROM {events} WHERE {where}) AS e\n"
        head += "    LEFT JOIN run_status s ON e.run_id = s.run_id\n)\n"
        inner = f"SELECT {', '.join(select)} FROM ev{group}"
    else:
        head = ""
        inner = f"SELECT {', '.join(select)} FROM {events} WHERE {where}{group}"
    return ordered(head, inner, dims, request.wanted, request.sql_metrics, request.limit, request.order_by)
