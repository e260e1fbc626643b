"""Cost per outcome, cost-to-serve and margin on a small example computed by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.finance import Period
from costtrail.finance.revenue import RevenueFormatError, import_revenue
from costtrail.finance.unit_economics import (
    OutcomeGoal,
    cost_per_outcome,
    cost_to_serve,
    costs_per_outcome,
    margin_dilutive,
)
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import CostLine, CostLineKind, Event, Outcome

DATA = Path(__file__).parent / "data"
OCT = Period.parse("2026-10")


def _at(day: int) -> datetime:
    return datetime(2026, 10, day, 12, tzinfo=UTC)


def _example(store: DuckDBStore) -> None:
    runs = [  # run, customer, day, event costs, outcome success
        ("r1", "acme", 5, ["0.10", "0.20"], True),
        ("r2", "acme", 5, ["0.50"], True),
        ("r3", "globex", 28, ["0.20"], False),
        ("r4", "globex", 29, ["1.20"], True),
    ]
    events, outcomes = [], []
    for run, customer, day, costs, success in runs:
        for cost in costs:
            events.append(
                Event(
                    model="gpt-4o",
                    provider="openai",
                    workflow="support_reply",
                    run_id=run,
                    customer_id=customer,
                    cost_usd=Decimal(cost),
                    started_at=_at(day),
                )
            )
        outcomes.append(
            Outcome(
                run_id=run,
                workflow="support_reply",
                outcome="ticket_resolved",
                success=success,
                recorded_at=_at(day),
            )
        )
    events.append(Event(model="gpt-4o", customer_id="initech", cost_usd=Decimal("0.25"), started_at=_at(2)))
    store.append_events(events)
    store.append_outcomes(outcomes)
    store.append_cost_lines(
        [
            CostLine(
                kind=CostLineKind.ALLOCATED,
                source="rule:test",
                billed_cost=Decimal(amount),
                charge_period_start=OCT.start,
                charge_period_end=OCT.end,
                rule_id="test",
                target_dimension=dimension,
                target_value=value,
                allocation_period=OCT.label,
            )
            for dimension, value, amount in (
                ("workflow", "support_reply", "0.40"),
                ("customer", "acme", "10.00"),
                ("customer", "globex", "5.00"),
            )
        ]
    )
    import_revenue(DATA / "revenue.csv", store)


def test_cost_per_outcome_with_allocated_cost_and_drift(store: DuckDBStore) -> None:
    _example(store)
    unit = cost_per_outcome(store, "ticket_resolved", OCT, target=Decimal("0.80"))
    assert unit.workflows == ("support_reply",)
    assert (unit.direct_cost, unit.allocated_cost, unit.outcomes) == (Decimal("2.20"), Decimal("0.40"), 3)
    assert unit.cost_per_outcome == Decimal("0.866667")
    assert unit.trailing_week == Decimal("1.400000")  # (0.20 + 1.20) / 1 success in Oct 25..31
    assert unit.drift and unit.reason == "trailing week 1.400000 > target 0.80 x 1.25"
    calm = cost_per_outcome(store, "ticket_resolved", OCT, target=Decimal("2.00"))
    assert not calm.drift and calm.previous_period is None


def test_costs_per_outcome_in_one_batch_equal_one_at_a_time(store: DuckDBStore) -> None:
    _example(store)
    goals = [
        OutcomeGoal("ticket_resolved", Decimal("0.80")),
        OutcomeGoal("never_recorded", Decimal("1.00")),
        OutcomeGoal("ticket_resolved", Decimal("2.00"), Decimal("3")),
    ]
    batch = costs_per_outcome(store, goals, OCT)
    alone = [
        cost_per_outcome(store, g.outcome, OCT, target=g.target, drift_factor=g.drift_factor) for g in goals
    ]
    assert batch == alone
    assert batch[0].cost_per_outcome == Decimal("0.866667") and batch[0].drift
    assert batch[1].workflows == () and batch[1].outcomes == 0 and batch[1].cost_per_outcome is None
    assert not batch[2].drift


def test_cost_to_serve_margin_and_dilutive_customers(store: DuckDBStore) -> None:
    _example(store)
    rows = {r.key: r for r in cost_to_serve(store, OCT, "customer")}
    acme, globex, initech = rows["acme"], rows["globex"], rows["initech"]
    assert (acme.direct, acme.allocated, acme.cost_to_serve) == (
        Decimal("0.80"),
        Decimal("10.00"),
        Decimal("10.80"),
    )
    assert (acme.revenue, acme.gross_margin, acme.margin_pct) == (
        Decimal("100.00"),
        Decimal("89.20"),
        Decimal("89.20"),
    )
    assert (globex.cost_to_serve, globex.gross_margin, globex.margin_pct) == (
        Decimal("6.40"),
        Decimal("13.60"),
        Decimal("68.00"),
    )
    assert (initech.gross_margin, initech.margin_pct, initech.plan_tier) == (Decimal("-0.25"), None, "free")
    dilutive = margin_dilutive(list(rows.values()), Decimal(70))
    assert [(d["key"], d["dollars_lost"]) for d in dilutive] == [
        ("globex", Decimal("0.40")),
        ("initech", Decimal("0.25")),
    ]
    tiers = {r.key: r for r in cost_to_serve(store, OCT, "plan_tier")}
    assert tiers["pro"].revenue == Decimal("100.00") and tiers["starter"].cost_to_serve == Decimal("6.40")
    workflow = {r.key: r for r in cost_to_serve(store, OCT, "workflow")}
    assert workflow["support_reply"].cost_to_serve == Decimal("2.60")


def test_revenue_reimport_replaces_and_errors_name_row_and_column(store: DuckDBStore, tmp_path: Path) -> None:
    import_revenue(DATA / "revenue.csv", store)
    import_revenue(DATA / "revenue.csv", store)
    total = store.query("SELECT sum(billed_cost) AS s, count(*) AS n FROM cost_lines WHERE kind = 'revenue'")
    assert (total[0]["s"], total[0]["n"]) == (Decimal("120.00"), 3)
    bad = tmp_path / "rev.csv"
    bad.write_text("customer_id,period,revenue\nacme,2026-10,100\nglobex,October,5\n")
    with pytest.raises(RevenueFormatError, match=r"rev.csv: row 2, column period"):
        import_revenue(bad, store)
    bad.write_text("customer_id,period,revenue\nacme,2026-10,$100\n")
    with pytest.raises(RevenueFormatError, match=r"row 1, column revenue: '\$100' is not an amount"):
        import_revenue(bad, store)


def test_unit_cost_command_reads_the_targets_file_with_located_errors(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    store = DuckDBStore(ledger)
    _example(store)
    store.close()
    units = tmp_path / "units.yaml"
    units.write_text('units:\n  ticket_resolved:\n    target_usd: "0.80"\n    drift_factor: 1.5\n')
    args = ["unit-cost", "ticket_resolved", "--period", "2026-10", "--ledger", str(ledger)]
    args += ["--format", "json"]
    done = CliRunner().invoke(app, [*args, "--config", str(units)])
    assert done.exit_code == 0, done.output
    row = json.loads(done.output)[0]
    # trailing week 1.40 > 0.80 x 1.5: drift, judged with the file's factor, not the default 1.25
    assert (Decimal(row["target"]), row["drift"]) == (Decimal("0.80"), True)
    assert row["reason"] == "trailing week 1.400000 > target 0.80 x 1.5"
    units.write_text('units:\n  ticket_resolved:\n    target_usd: "-1"\n')
    bad = CliRunner().invoke(app, [*args, "--config", str(units)])
    assert bad.exit_code == 2
    assert f"{units}:3: units.ticket_resolved.target_usd" in bad.output
