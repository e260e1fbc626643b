"""The staged plan: per-run partial aggregates first, then one row per group.

Applies when some metric needs run success, or is a distinct count of runs on
a store whose dialect stages run counts, and every such metric splits into
per-run parts (``Metric.combine``). The metrics that do not split (quantiles,
other distinct counts) come from a plain query of their own, merged by group.
"""

from __future__ import annotations

from typing import Any

from costtrail.ledger.store import Dialect
from costtrail.reports.dimensions import Dimension
from costtrail.reports.metrics import Metric
from costtrail.reports.plan_sql import (
    PlanRequest,
    last_model_at_sql,
    last_model_status_sql,
    ordered,
    plain_sql,
    run_outcome_cte,
    run_status_ctes,
    run_status_tail,
    spelled,
)


class StagedPlan:
    name = "staged"
    rule = "a run metric (run success, or distinct runs where staging pays) and every one splits per run"

    def applies(self, request: PlanRequest) -> bool:
        per_run = _per_run(request)
        return bool(per_run) and all(m.combine is not None for m in per_run)

    def rows(self, request: PlanRequest) -> list[dict[str, Any]]:
        dialect, dims, sql_metrics = request.dialect, request.dims, request.sql_metrics
        staged = [(i, m) for i, m in enumerate(sql_metrics) if m.combine is not None]
        rest = [(i, m) for i, m in enumerate(sql_metrics) if m.combine is None]
        head, inner = _staged_sql(dialect, dims, staged, request.where, request.time_where)
        store = request.store
        if not rest:
            return store.query(
                ordered(head, inner, dims, request.wanted, sql_metrics, request.limit, request.order_by)
            )
        rows = store.query(head + inner)
        others = store.query(plain_sql(dialect, dims, rest, request.where, sort_columns=False))
        dim_keys = [f"d{i}" for i in range(len(dims))]
        by_group = {tuple(r[k] for k in dim_keys): r for r in others}
        for row in rows:
            extra = by_group.get(tuple(row[k] for k in dim_keys), {})
            for i, _ in rest:
                row[f"m{i}"] = extra.get(f"m{i}")
        return request.sorted_and_cut(rows)


def _per_run(request: PlanRequest) -> list[Metric]:
    # A distinct count of runs alone is staged only where the dialect says a second grouping
    # stage pays (ClickHouse's uniqExact counts millions of runs as fast).
    stage_runs = request.dialect.stage_run_counts
    return [m for m in request.sql_metrics if m.needs_runs or (m.per_run and stage_runs)]


def _staged_sql(
    dialect: Dialect,
    dims: list[Dimension],
    staged: list[tuple[int, Metric]],
    where: str,
    time_where: str,
) -> tuple[str, str]:
    """Per-run metrics in two stages: group the matching events by the report's
    dimensions and ``run_id`` into partial aggregates, join each partial row (not
    each event) to its run's status, then combine the partials per group.

    A run is counted with ``count(run_id)`` over partial rows instead of a
    ``count(DISTINCT ...)`` over events, and the join touches one row per run
    and group: cheaper than joining every event (bench/RESULTS.md, scale). With
    no filter besides time (DuckDB), the first stage also yields each
    group's last model event, so run status needs no second pass over the events.
    Without run success (``runs`` alone) there is no join at all.
    Returns the ``WITH`` head and the final ``SELECT``.
    """
    events = dialect.final("events")
    status = any(m.needs_runs for _, m in staged)
    parts: dict[str, str] = {}
    for _, m in staged:
        for p in m.parts:
            parts.setdefault(p, f"q{len(parts)}")
    whole_runs = where == time_where  # every event of a run in the window is in the first stage
    # With no dimension besides the run, the first stage has one row per run: its last model
    # event is the run's, so status needs neither a regrouping nor a second pass (any store).
    per_run_rows = status and whole_runs and all(d.name == "run_id" for d in dims)
    reuse = status and whole_runs and dialect.status_from_first_stage and not per_run_rows
    first = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    first += [f"{d.sort_sql} AS _s{i}" for i, d in enumerate(dims) if d.sort_sql]
    first += ["run_id AS _run", *(f"{spelled(dialect, sql)} AS {alias}" for sql, alias in parts.items())]
    if reuse or per_run_rows:
        first += [f"{last_model_at_sql(dialect)} AS _la", f"{last_model_status_sql(dialect)} AS _ls"]
    group = ", ".join([*(d.sql for d in dims), "run_id"])
    part = f"part AS (\n    SELECT {', '.join(first)}\n"
    part += f"    FROM {events} WHERE {where} GROUP BY {group}\n)"
    if not status:
        return f"WITH {part}, staged AS (SELECT p.*, p._run AS run_id FROM part AS p)\n", _second_stage(
            dims, staged, parts
        )
    if per_run_rows:
        head = f"""WITH {part}, {run_outcome_cte(dialect)}, staged AS (
    SELECT p.*, p._run AS run_id,
           CASE WHEN p._run IS NULL THEN NULL WHEN coalesce(o.n, 0) > 0 THEN o.ok = 1
                ELSE coalesce(p._ls = 'success', FALSE) END AS run_ok
    FROM part AS p LEFT JOIN run_outcome AS o ON p._run = o.run_id
)
"""
        return head, _second_stage(dims, staged, parts)
    if reuse:
        runs = f"""run_last AS (
    SELECT _run AS run_id, {dialect.arg_max("_ls", "_la")} AS last_status
    FROM part WHERE _run IS NOT NULL GROUP BY _run
), {run_status_tail(dialect)}"""
    else:
        runs = run_status_ctes(dialect, time_where, where)
    head = f"""WITH {part}, {runs}, staged AS (
    SELECT p.*, p._run AS run_id, CASE WHEN p._run IS NULL THEN NULL ELSE s.run_ok END AS run_ok
    FROM part AS p LEFT JOIN run_status AS s ON p._run = s.run_id
)
"""
    return head, _second_stage(dims, staged, parts)


def _second_stage(dims: list[Dimension], staged: list[tuple[int, Metric]], parts: dict[str, str]) -> str:
    second = [f"d{i}" for i in range(len(dims))]
    second += [f"min(_s{i}) AS s{i}" for i, d in enumerate(dims) if d.sort_sql]
    for i, m in staged:
        combine = m.combine or ""
        for k, p in enumerate(m.parts):
            combine = combine.replace(f"${k}", parts[p])
        second.append(f"{combine} AS m{i}")
    regroup = f" GROUP BY {', '.join(f'd{i}' for i in range(len(dims)))}" if dims else ""
    return f"SELECT {', '.join(second)} FROM staged{regroup}"
