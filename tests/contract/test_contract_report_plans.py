"""The two-stage run-success plan returns exactly what the single-stage join returns.

Reports with run success group events by (dimensions, run) first and join run
status to those partial rows (``reports/plans/staged.py``); metrics that do not
split per run (quantiles, other distinct counts) come from a second query and
are merged in Python, ordered and cut there. The single-stage plan (run status
joined to every event, ``count(DISTINCT ...)``) is the reference: a metric
without ``combine`` forces it. A random ledger whose runs cross workflows,
days and customers, with NULL dimensions, outcomes that override the last
model event, and ties in cost, must give identical rows, in the same order,
on both stores.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from costtrail.ledger.store import LedgerStore
from costtrail.reports import report
from costtrail.reports.metrics import METRICS, Metric
from costtrail.schema import Event, Outcome

START = datetime(2026, 5, 1, tzinfo=UTC)


def _ledger(seed: int) -> tuple[list[Event], list[Outcome]]:
    rng = random.Random(seed)
    events: list[Event] = []
    outcomes: list[Outcome] = []
    for r in range(120):
        run = f"run-{r}" if r % 17 else None  # some events belong to no run
        base = START + timedelta(hours=rng.randrange(0, 24 * 4))
        for k in range(rng.randint(1, 6)):
            events.append(
                Event(
                    event_id=f"e-{r}-{k}",
                    run_id=run,
                    # a run may cross workflows, customers and days
                    workflow=rng.choice(["alpha", "beta", "gamma", None]) if k else f"wf{r % 3}",
                    customer_id=rng.choice(["c1", "c2", "c3", None]),
                    started_at=base + timedelta(hours=rng.choice([0, 1, 30])) + timedelta(seconds=k),
                    kind=rng.choice(["llm", "llm", "embedding", "tool"]),
                    provider="openai",
                    model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                    status=rng.choice(["success", "success", "failure", "retry"]),
                    latency_ms=float(rng.randrange(10, 3000)),
                    input_tokens=rng.randrange(0, 3000),
                    output_tokens=rng.randrange(0, 500),
                    cost_usd=Decimal(rng.choice(["0.01", "0.02", "0.003", "0.25"])),
                    cost_source="reported",
                )
            )
        if run and r % 4 == 0:
            outcomes.append(Outcome(outcome_id=f"o-{r}", run_id=run, outcome="done", success=r % 8 == 0))
    return events, outcomes


# The same catalog with no metric split per run: every report takes the single-stage join.
SINGLE_STAGE = {
    name: replace(m, parts=(), combine=None) if isinstance(m, Metric) else m for name, m in METRICS.items()
}


CASES: list[dict[str, Any]] = [
    {"by": ["workflow"], "metrics": ["total_cost", "runs", "successful_runs", "failed_run_cost", "events"]},
    {
        "by": ["workflow", "day"],
        "metrics": ["total_cost", "runs", "success_rate", "cost_per_successful_run", "p95_latency_ms"],
    },
    {
        "by": ["customer_id"],
        "metrics": ["total_cost", "runs", "failed_runs", "avg_latency_ms", "customers", "avg_input_tokens"],
        "order_by": ["-runs"],
        "limit": 2,
    },
    {
        "by": ["model", "kind"],
        "metrics": ["events", "successful_runs", "workflows_touched", "first_seen", "last_seen"],
        "filters": {"workflow": ["alpha", None]},
    },
    {"by": [], "metrics": ["total_cost", "runs", "successful_runs", "p95_latency_ms"]},
    {
        "by": ["run_id"],
        "metrics": ["total_cost", "successful_runs", "events"],
        "order_by": ["-total_cost"],
        "limit": 7,
    },
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(c["by"]) or "total")
def test_two_stage_plan_equals_single_stage(
    module_pair: tuple[LedgerStore, LedgerStore], case: dict[str, Any]
) -> None:
    duck, click = module_pair
    if not duck.query("SELECT count(*) AS n FROM events")[0]["n"]:
        events, outcomes = _ledger(7)
        for store in (duck, click):
            store.append_events(events)
            store.append_outcomes(outcomes)
    kwargs = {k: v for k, v in case.items() if k != "metrics"}
    since, until = START + timedelta(hours=3), START + timedelta(days=5)
    for store in (duck, click):
        for window in ({}, {"since": since, "until": until}):
            fast = report(store, metrics=case["metrics"], **kwargs, **window)
            slow = report(store, metrics=case["metrics"], catalog=SINGLE_STAGE, **kwargs, **window)
            assert [_rounded(r) for r in fast] == [_rounded(r) for r in slow], (store.dialect.name, window)
            assert len(fast) > 0
    assert [_rounded(r) for r in report(duck, metrics=case["metrics"], **kwargs)] == [
        _rounded(r) for r in report(click, metrics=case["metrics"], **kwargs)
    ]


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Floats (means, quantiles, rates) to 9 places: the plans add doubles in different orders."""
    return {
        k: (round(v, 9) if isinstance(v, float) else v.replace(tzinfo=None) if isinstance(v, datetime) else v)
        for k, v in row.items()
    }
