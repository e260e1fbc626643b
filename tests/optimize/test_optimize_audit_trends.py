"""Production-vs-eval audit, drift change-points and the month-end forecast."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from costtrail.controls.config import BudgetConfig
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.optimize.audit import audit
from costtrail.optimize.evals import EvalResult, import_evals
from costtrail.optimize.traffic import TrafficScope
from costtrail.optimize.trends import drift, forecast
from costtrail.pricing import Pricer
from costtrail.schema import Event

D = Decimal


def test_audit_names_the_dimension_that_drifted(store: DuckDBStore) -> None:
    events = []
    for i in range(50):
        at = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=i)
        for step, tools in (("plan", 1), ("answer", 0)):
            events.append(
                Event(
                    workflow="support_reply",
                    run_id=f"r{i}",
                    step=step,
                    provider="openai",
                    model="gpt-4o-mini",
                    input_tokens=4000,
                    output_tokens=300,
                    tool_calls=tools,
                    started_at=at,
                )
            )
    store.append_events(Pricer().apply(events))
    import_evals(
        store,
        [
            EvalResult(
                workflow="support_reply",
                model="gpt-4o-mini",
                eval_set="golden",
                eval_date=date(2026, 2, 1),
                pass_rate=0.93,
                avg_input_tokens=1500,
                avg_output_tokens=320,
                avg_calls_per_run=2,
                avg_tool_calls=1,
                avg_retries=0,
            ),
        ],
    )
    result = audit(store, TrafficScope(workflow="support_reply"), sample=40)
    assert result.model == "gpt-4o-mini" and result.sampled_calls == 40
    assert result.drifted == ["input tokens per call", "cost per call"]
    lines = {line.dimension: line for line in result.lines}
    assert lines["input tokens per call"].production == 4000 and lines["input tokens per call"].ratio == 2.667
    assert lines["output tokens per call"].ratio == round(300 / 320, 3)
    assert lines["calls per run"].production == 2 and lines["tool calls per run"].production == 1
    # 4000 x 0.15 + 300 x 0.60 per Mtok in production; 1500 x 0.15 + 320 x 0.60 on the eval set
    assert lines["cost per call"].production == D("0.00078") and lines["cost per call"].eval == D("0.000417")
    assert not lines["retries per run"].drifted
    with pytest.raises(ValueError, match="no eval result for model 'gpt-4o'"):
        audit(store, TrafficScope(workflow="support_reply"), model="gpt-4o")


def _daily(store: DuckDBStore, shift_day: int | None) -> None:
    rng = random.Random(5)
    events = []
    for day in range(28):
        out = 400 if shift_day is not None and day >= shift_day else 200
        for i in range(20):
            at = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=day, minutes=30 * i)
            events.append(
                Event(
                    workflow="support_reply",
                    run_id=f"r{day}-{i // 2}",
                    provider="openai",
                    model="gpt-4o-mini",
                    input_tokens=int(1000 * rng.uniform(0.95, 1.05)),
                    output_tokens=int(out * rng.uniform(0.95, 1.05)),
                    started_at=at,
                )
            )
    store.append_events(Pricer().apply(events))


def test_drift_finds_the_day_output_tokens_doubled(store: DuckDBStore) -> None:
    _daily(store, shift_day=15)
    result = drift(store, TrafficScope(workflow="support_reply"))
    assert len(result["series"]) == 28 and result["series"][0]["calls_per_run"] == 2
    points = {p["metric"]: p for p in result["change_points"]}
    assert set(points) == {"output_tokens_per_call", "cost_per_call", "cost_per_run"}
    assert points["output_tokens_per_call"]["changed_on"] == date(2026, 2, 16)
    assert 90 < points["output_tokens_per_call"]["change_pct"] < 110
    assert (
        result["week_over_week_cost_per_call_pct"] == 0 or abs(result["week_over_week_cost_per_call_pct"]) < 5
    )
    weekly = drift(store, TrafficScope(workflow="support_reply"), by="week")
    assert [r["period"].weekday() for r in weekly["series"]] == [0] * len(weekly["series"])


def test_no_drift_on_a_steady_series(store: DuckDBStore) -> None:
    _daily(store, shift_day=None)
    assert drift(store, TrafficScope(workflow="support_reply"))["change_points"] == []


def test_month_end_forecast(store: DuckDBStore) -> None:
    events = [
        Event(
            model="m",
            environment="production",
            cost_usd=D("1"),
            cost_source="reported",
            started_at=datetime(2026, 3, 1, 10, tzinfo=UTC) + timedelta(days=d),
        )
        for d in range(11)
    ] + [
        Event(
            model="m",
            environment="production",
            cost_usd=D("0.5"),
            cost_source="reported",
            started_at=datetime(2026, 3, 12, 9, tzinfo=UTC),
        ),
        Event(
            model="m",
            environment="staging",
            cost_usd=D("3"),
            cost_source="reported",
            started_at=datetime(2026, 2, 27, tzinfo=UTC),
        ),  # last month
    ]
    store.append_events(events)
    budgets = [BudgetConfig(name="prod", scope={"environment": "production"}, limit_usd=D("30"))]
    rows = {r["scope"]: r for r in forecast(store, datetime(2026, 3, 12, 12, tzinfo=UTC), budgets)}
    prod = rows["prod"]
    # $11.50 so far, $1/day over Mar 5-11, 19.5 days left
    assert prod["month_to_date"] == D("11.5") and prod["daily_rate"] == D("1")
    assert prod["forecast_month_end"] == D("31") and prod["over_limit"] is True
    assert rows["(total)"]["forecast_month_end"] == D("31") and rows["(total)"]["limit"] is None
