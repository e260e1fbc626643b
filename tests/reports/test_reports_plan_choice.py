"""Report plans are chosen in one place (``reports.plans.PLANS``), each by its stated rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports.dimensions import resolve_dimension
from costtrail.reports.filters import where_clause
from costtrail.reports.metrics import METRICS, Metric
from costtrail.reports.plans import PLANS, PlanRequest, choose_plan
from costtrail.reports.rollup import resolve_metrics


def _request(store: DuckDBStore, by: list[str], metrics: list[str | Metric]) -> PlanRequest:
    dims = [resolve_dimension(b, store.dialect) for b in by]
    wanted, sql_metrics = resolve_metrics(metrics, METRICS)
    where = where_clause(store.dialect, None, None, None)
    return PlanRequest(store, dims, wanted, sql_metrics, None, None, None, where, where, None, None)


@pytest.mark.parametrize(
    ("by", "metrics", "plan"),
    [
        (["workflow", "day"], ["total_cost", "runs"], "run-index"),
        (["model"], ["total_cost", "runs"], "staged"),  # model is not a run-level dimension
        (["workflow"], ["runs", "success_rate"], "staged"),
        (["workflow"], ["total_cost", "events"], "single-stage"),
        (
            ["workflow"],
            ["runs", replace(METRICS["successful_runs"], name="ok_runs", combine=None)],
            "single-stage",
        ),
    ],
)
def test_the_first_plan_whose_rule_holds_runs_the_report(
    by: list[str], metrics: list[str | Metric], plan: str
) -> None:
    store = DuckDBStore(":memory:")
    try:
        assert choose_plan(_request(store, by, metrics)).name == plan
    finally:
        store.close()


def test_every_plan_states_its_rule_and_the_last_always_applies() -> None:
    assert all(p.rule for p in PLANS)
    store = DuckDBStore(":memory:")
    try:
        assert PLANS[-1].applies(_request(store, ["workflow"], ["runs", "success_rate"]))
    finally:
        store.close()
