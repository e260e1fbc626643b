"""Every report view, every metric and the run reports give identical results on DuckDB and ClickHouse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.contract.ledger_samples import T0, sample_events, sample_outcomes

from costtrail.ledger.store import LedgerStore
from costtrail.reports import METRICS, failed_spend, report, run_steps, top_runs, view_names, view_report


@pytest.fixture(scope="module")
def loaded(module_pair: tuple[LedgerStore, LedgerStore]) -> tuple[LedgerStore, LedgerStore]:
    events = sample_events(600, seed=13)
    for store in module_pair:
        store.append_events(events)
        store.append_outcomes(sample_outcomes(events)[::2])  # half the runs have an outcome event
    return module_pair


def _same(a: Any, b: Any) -> None:
    """Equal to the cent and beyond for money/counts; floats (latency, ratios) to 1e-9."""
    if isinstance(a, float) or isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


@pytest.mark.parametrize("view", view_names())
def test_every_view_is_identical(loaded: tuple[LedgerStore, LedgerStore], view: str) -> None:
    duck, click = (view_report(s, view) for s in loaded)
    assert len(duck) > 0
    _same(list(duck), list(click))
    _same(duck.unpriced.__dict__, click.unpriced.__dict__)


def test_every_metric_by_workflow_and_day(loaded: tuple[LedgerStore, LedgerStore]) -> None:
    kwargs: dict[str, Any] = {
        "by": ["workflow", "day"],
        "metrics": list(METRICS),
        "since": T0 + timedelta(hours=3),
        "until": T0 + timedelta(days=2),
        "order_by": ["workflow", "day"],
    }
    duck, click = (report(s, **kwargs) for s in loaded)
    assert len(duck) > 4
    _same(list(duck), list(click))


def test_filters_and_limits(loaded: tuple[LedgerStore, LedgerStore]) -> None:
    kwargs: dict[str, Any] = {
        "by": ["tenant_id", "feature"],
        "metrics": ["total_cost", "runs", "cost_per_successful_run", "p95_latency_ms"],
        "filters": {"feature": ["o'reilly", "chat"], "tenant_id": None},
        "limit": 5,
    }
    duck, click = (report(s, **kwargs) for s in loaded)
    assert len(duck) > 0
    _same(list(duck), list(click))


def test_run_reports(loaded: tuple[LedgerStore, LedgerStore]) -> None:
    _same(list(top_runs(loaded[0], limit=7)), list(top_runs(loaded[1], limit=7)))
    _same(list(failed_spend(loaded[0])), list(failed_spend(loaded[1])))
    for run in ("run-3", "run-40", "run-149"):
        _same(run_steps(loaded[0], run), run_steps(loaded[1], run))
