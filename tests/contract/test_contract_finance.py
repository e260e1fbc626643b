"""Allocation, reconciliation inputs, true-up and unit economics: identical on DuckDB and ClickHouse."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from costtrail.allocation import allocate, parse_rules
from costtrail.demo.finance_demo import BillPlan, synthesize_bills
from costtrail.finance import Period
from costtrail.finance.revenue import import_revenue
from costtrail.finance.unit_economics import cost_per_outcome, cost_to_serve
from costtrail.ledger.store import LedgerStore
from costtrail.reconcile import reconcile, true_up
from costtrail.schema import CostLine, CostLineKind, Event, Outcome

OCT = Period.parse("2026-10")
REVENUE = Path(__file__).resolve().parents[1] / "finance" / "data" / "revenue.csv"
RULES = parse_rules(
    {
        "rules": [
            {
                "id": "vdb",
                "owner": "platform",
                "review_by": "2027-01-01",
                "pool": {"lines": {"provider": "vectordb-cloud"}},
                "signal": "query_count",
                "target": "customer",
                "method": "proportional",
            },
            {
                "id": "obs",
                "owner": "sre",
                "review_by": "2027-01-01",
                "pool": {"lines": {"provider": "observability"}},
                "signal": "even",
                "target": "workflow",
                "method": "even",
            },
        ]
    }
)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _world(store: LedgerStore) -> None:
    t0 = datetime(2026, 10, 3, 9, tzinfo=UTC)
    events, outcomes = [], []
    for i in range(120):
        run, customer = f"r{i // 3}", ["acme", "globex", "initech", None][i % 4]
        events.append(
            Event(
                kind="retrieval" if i % 5 == 0 else "llm",
                provider="openai",
                model="gpt-4o-mini-2024-07-18",
                provider_account="proj_app",
                workflow=["support_reply", "summarize"][i // 60],
                run_id=run,
                customer_id=customer,
                query_count=i % 7,
                input_tokens=100 + i,
                cost_usd=Decimal(i + 1).scaleb(-4),
                cost_source="computed",
                started_at=t0 + timedelta(hours=i * 3),
            )
        )
        if i % 3 == 2:
            outcomes.append(
                Outcome(
                    run_id=run,
                    workflow=events[-1].workflow,
                    outcome="ticket_resolved",
                    success=i % 2 == 0,
                    recorded_at=t0 + timedelta(hours=i * 3),
                )
            )
    store.append_events(events)
    store.append_outcomes(outcomes)
    store.append_cost_lines(
        [
            CostLine(
                kind=CostLineKind.SHARED,
                source="invoice",
                provider=p,
                billed_cost=Decimal(amount),
                charge_period_start=OCT.start,
                charge_period_end=OCT.end,
            )
            for p, amount in (("vectordb-cloud", "1000.00"), ("observability", "333.33"))
        ]
    )
    import_revenue(REVENUE, store)


def test_allocation_unit_economics_and_reconciliation(both: tuple[LedgerStore, LedgerStore]) -> None:
    results = []
    for store in both:
        _world(store)
        first = allocate(store, RULES, OCT)
        again = allocate(store, RULES, OCT)  # a rerun replaces its lines, never doubles them
        lines = store.query(
            "SELECT rule_id, kind, target_value, billed_cost, signal_quantity, ratio FROM "
            f"{store.dialect.final('cost_lines')} WHERE kind IN ('allocated', 'unallocated') "
            "ORDER BY rule_id, kind, target_value"
        )
        bills = synthesize_bills(store, Period.parse("2026-10-01..2026-10-10"), BillPlan(untracked_days=(4,)))
        store.append_cost_lines(bills.lines)
        rec = reconcile(store, Period.parse("2026-10-01..2026-10-10"))
        results.append(
            {
                "allocation": _plain(first),
                "rerun": _plain(again),
                "lines": lines,
                "unit": cost_per_outcome(store, "ticket_resolved", OCT, target=Decimal("0.01")).as_dict(),
                "serve": [r.as_dict() for r in cost_to_serve(store, OCT, "customer")],
                "reconcile": rec.summary(),
                "recon_lines": [ln.as_dict() for ln in rec.lines],
                "findings": [f.as_dict() for f in rec.findings],
                "true_up": [_plain(c.model_dump()) for c in true_up(store, rec)],
            }
        )
    duck, click = results
    assert duck["lines"] and sum(r["billed_cost"] for r in duck["lines"]) == Decimal("1333.33")
    assert duck["recon_lines"] and duck["serve"]
    for key in duck:
        assert click[key] == duck[key], key
