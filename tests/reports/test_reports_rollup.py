"""The rollup API: the $6.25 example, the success rules, filters and time windows, custom metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from tests.reports.reports_dataset import DAY1, load_hand_dataset

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports import (
    METRICS,
    Metric,
    Ratio,
    ReportError,
    parse_time,
    report,
    view_report,
)
from costtrail.schema import Event, Outcome

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def seed_example_events() -> tuple[list[Event], list[Outcome]]:
    """1,000 runs of support_reply, $4 each ($4,000), 640 of them successful.

    600 succeed by their last model event; 40 whose last event failed succeed by a
    successful outcome; 50 whose last event succeeded fail by an unsuccessful
    outcome; the other 310 end in a failed model call.
    """
    events: list[Event] = []
    outcomes: list[Outcome] = []
    for i in range(1000):
        run = f"run-{i:04d}"
        last_ok = i < 600 or 640 <= i < 690
        at = T0 + timedelta(minutes=3 * i)
        for k, status in enumerate(
            ("retry" if i % 7 == 0 else "success", "success" if last_ok else "failure")
        ):
            events.append(
                Event(
                    event_id=f"{run}-{k}",
                    run_id=run,
                    workflow="support_reply",
                    provider="openai",
                    model="gpt-4o",
                    status=status,
                    started_at=at + timedelta(seconds=k),
                    cost_usd=D("1.75") if k == 0 else D("2.25"),
                )
            )
        if 600 <= i < 640:
            outcomes.append(Outcome(run_id=run, outcome="ticket_resolved", success=True, recorded_at=at))
        if 640 <= i < 690:
            outcomes.append(Outcome(run_id=run, outcome="ticket_resolved", success=False, recorded_at=at))
    return events, outcomes


def test_cost_per_successful_completion_is_6_25(store: DuckDBStore) -> None:
    events, outcomes = seed_example_events()
    assert store.append_events(events).accepted == 2000
    store.append_outcomes(outcomes)
    [row] = report(
        store,
        by=["workflow"],
        metrics=["runs", "total_cost", "successful_runs", "cost_per_successful_run", "success_rate"],
    )
    assert row["runs"] == 1000
    assert row["total_cost"] == D("4000")
    assert row["successful_runs"] == 640
    assert row["cost_per_successful_run"] == D("6.25")
    assert row["success_rate"] == 0.64


def _run_events(run: str, *statuses: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
    kinds = kinds or ("llm",) * len(statuses)
    return [
        Event(
            event_id=f"{run}-{k}",
            run_id=run,
            workflow="w",
            kind=kind,
            model="gpt-4o" if kind == "llm" else None,
            tool_name="t" if kind == "tool" else None,
            status=status,
            started_at=T0 + timedelta(minutes=k),
            cost_usd=D("1"),
        )
        for k, (status, kind) in enumerate(zip(statuses, kinds, strict=True))
    ]


@pytest.mark.parametrize(
    ("statuses", "kinds", "outcomes", "succeeded"),
    [
        (("failure", "success"), None, [], True),  # last model event decides
        (("success", "failure"), None, [], False),
        (("success", "retry"), None, [], False),  # retried but never finished
        (("success",), None, [False], False),  # an unsuccessful outcome wins over the last event
        (("failure",), None, [True], True),  # a successful outcome wins over the last event
        (("failure",), None, [False, True], True),  # any successful outcome
        (("success", "failure"), ("llm", "tool"), [], True),  # tool calls are not model events
        (("success",), ("tool",), [], False),  # no model event, no outcome: not a success
    ],
)
def test_success_rules(
    store: DuckDBStore,
    statuses: tuple[str, ...],
    kinds: tuple[str, ...] | None,
    outcomes: list[bool],
    succeeded: bool,
) -> None:
    # Appended newest first: order of arrival must not matter, started_at does.
    store.append_events(list(reversed(_run_events("r", *statuses, kinds=kinds))))
    store.append_outcomes([Outcome(run_id="r", outcome="done", success=s) for s in outcomes])
    [row] = report(store, by=["workflow"], metrics=["runs", "successful_runs", "failed_runs"])
    assert (row["successful_runs"], row["failed_runs"]) == ((1, 0) if succeeded else (0, 1))


def test_filters_and_time_window(store: DuckDBStore) -> None:
    load_hand_dataset(store)
    [c1] = report(store, ["workflow"], ["total_cost", "runs", "successful_runs"], filters={"customer": "c1"})
    assert (c1["total_cost"], c1["runs"], c1["successful_runs"]) == (D("0.081"), 2, 1)
    rows = report(store, ["customer_id"], ["total_cost"], filters={"customer_id": ["c1", "c3"]})
    assert {r["customer_id"]: r["total_cost"] for r in rows} == {"c1": D("0.081"), "c3": D("0.012")}
    assert report(store, ["workflow"], ["events"], filters={"agent": None}) == []  # all have an agent
    [row] = report(
        store, ["workflow"], ["events"], filters={"tool_name": [None, "ocr"], "workflow": "doc_extract"}
    )
    assert row["events"] == 3  # None matches a missing value
    day2 = DAY1 + timedelta(days=1)
    rows = report(store, ["workflow"], ["total_cost"], since=day2.date())
    assert {r["workflow"]: r["total_cost"] for r in rows} == {
        "support_reply": D("0.09"),
        "doc_extract": D("0.012"),
    }
    rows = report(store, ["workflow"], ["total_cost"], since=DAY1, until=day2)
    assert {r["workflow"]: r["total_cost"] for r in rows} == {"support_reply": D("0.071")}
    rows = report(store, ["day"], ["events"], filters={"day": "2026-03-02"})
    assert [(r["day"], r["events"]) for r in rows] == [(date(2026, 3, 2), 2)]


def test_several_dimensions_limit_and_order(store: DuckDBStore) -> None:
    load_hand_dataset(store)
    rows = report(store, ["workflow", "customer"], ["total_cost", "events"], order_by=["-events"], limit=2)
    assert [(r["workflow"], r["customer_id"], r["events"]) for r in rows] == [
        ("doc_extract", "c3", 3),
        ("support_reply", "c1", 3),
    ]
    rows = report(store, ["customer"], ["total_cost"], order_by=["customer"])
    assert [r["customer_id"] for r in rows] == ["c1", "c2", "c3"]


def test_custom_metrics_are_data(store: DuckDBStore) -> None:
    load_hand_dataset(store)
    heavy = Metric(
        "heavy_calls", "sum(CASE WHEN input_tokens >= 1500 THEN 1 ELSE 0 END)", "count", "big prompts"
    )
    share = Ratio("heavy_share", "heavy_calls", "model_calls", "ratio", "heavy calls / model calls")
    rows = report(store, ["workflow"], [heavy, share, "model_calls"], order_by=["workflow"])
    assert [(r["workflow"], r["heavy_calls"], r["heavy_share"]) for r in rows] == [
        ("doc_extract", 1, 0.5),
        ("support_reply", 2, 0.4),
    ]
    catalog = METRICS | {heavy.name: heavy}
    [row] = report(store, [], ["heavy_calls", "total_cost"], catalog=catalog)
    assert row == {"heavy_calls": 3, "total_cost": D("0.173")}


def test_clear_errors(store: DuckDBStore) -> None:
    with pytest.raises(ReportError, match=r"unknown dimension 'colour'.*workflow"):
        report(store, ["colour"])
    with pytest.raises(ReportError, match="unknown metric 'profit'"):
        report(store, ["workflow"], ["profit"])
    with pytest.raises(ReportError, match="cannot order by 'nope'"):
        report(store, ["workflow"], ["events"], order_by=["-nope"])
    with pytest.raises(ReportError, match="event column"):
        report(store, ["workflow"], [Metric("input_tokens", "sum(input_tokens)", "tokens", "x")])
    with pytest.raises(ReportError, match="unknown report 'colour'"):
        view_report(store, "colour")
    with pytest.raises(ReportError, match="ISO date"):
        parse_time("last tuesday")


def test_filter_values_are_quoted(store: DuckDBStore) -> None:
    store.append_events([Event(model="m", workflow="it's", cost_usd=D("1"), run_id=uuid.uuid4().hex)])
    [row] = report(store, ["workflow"], ["total_cost"], filters={"workflow": "it's"})
    assert row["total_cost"] == D("1")
    assert report(store, ["workflow"], ["total_cost"], filters={"workflow": "x' OR '1'='1"}) == []


def test_parse_time() -> None:
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)
    # days count whole days, as the dashboard's ranges do: the 7 days before today, and today
    assert parse_time("7d", now=now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_time("12h", now=now) == datetime(2026, 3, 8, tzinfo=UTC)
    assert parse_time("2026-03-01T10:00+02:00") == datetime(2026, 3, 1, 8, tzinfo=UTC)
