"""Reconciliation finds exactly the discrepancies injected into synthetic bills, with exact numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costtrail.demo.finance_demo import BillPlan, synthesize_bills
from costtrail.finance import Period
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reconcile import (
    CACHE_NOT_REFLECTED,
    DISCOUNT,
    MISSING_TELEMETRY,
    STALE_PRICE,
    UNTRACKED_EVENTS,
    reconcile,
    true_up,
)
from costtrail.schema import CostLine, Event

PERIOD = Period.parse("2026-10-01..2026-10-10")
# provider, account, model, events per day, computed cost per event
TRAFFIC = [
    ("openai", "proj_app", "gpt-4o-2024-08-06", 2, Decimal("1.00")),
    ("openai", "proj_app", "gpt-4o-mini-2024-07-18", 4, Decimal("0.10")),
    ("anthropic", "wrk_main", "claude-sonnet-4-20250514", 3, Decimal("0.50")),
    ("anthropic", "wrk_main", "claude-3-5-haiku-20241022", 5, Decimal("0.02")),
]


def _telemetry(store: DuckDBStore) -> None:
    events = []
    for day in range(PERIOD.days):
        t = PERIOD.start + timedelta(days=day, hours=9)
        for provider, account, model, n, cost in TRAFFIC:
            for i in range(n):
                events.append(
                    Event(
                        provider=provider,
                        provider_account=account,
                        model=model,
                        input_tokens=1000,
                        output_tokens=200,
                        cost_usd=cost,
                        cost_source="computed",
                        customer_id="acme",
                        started_at=t + timedelta(minutes=i),
                    )
                )
        # A self-hosted model with no provider bill imported: reported apart, never flagged.
        events.append(Event(provider="vllm", model="llama-3.1-8b", cost_usd=Decimal("0.05"), started_at=t))
    store.append_events(events)


@pytest.fixture
def billed_store(store: DuckDBStore) -> DuckDBStore:
    _telemetry(store)
    plan = BillPlan(untracked_days=(3, 7))
    bills = synthesize_bills(store, PERIOD, plan)
    assert bills.stale_model == "claude-3-5-haiku-20241022"
    store.append_cost_lines(bills.lines)
    return store


def test_finds_exactly_the_injected_discrepancies(billed_store: DuckDBStore) -> None:
    rec = reconcile(billed_store, PERIOD)
    found = {(f.flag, f.provider, f.provider_account, f.model, f.days) for f in rec.findings}
    assert found == {
        (DISCOUNT, "openai", "proj_app", "gpt-4o-2024-08-06", 10),
        (DISCOUNT, "openai", "proj_app", "gpt-4o-mini-2024-07-18", 10),
        (STALE_PRICE, "anthropic", "wrk_main", "claude-3-5-haiku-20241022", 10),
        (MISSING_TELEMETRY, "openai", "proj-untracked", "gpt-4o-2024-08-06", 2),
    }
    ratios = {(f.flag, f.model): f.ratio for f in rec.findings}
    assert ratios[(DISCOUNT, "gpt-4o-2024-08-06")] == Decimal("0.9")
    assert ratios[(STALE_PRICE, "claude-3-5-haiku-20241022")] == Decimal("1.25")
    missing = next(f for f in rec.findings if f.flag == MISSING_TELEMETRY)
    assert (missing.billed, missing.computed) == (Decimal("8.40"), Decimal(0))
    summary = rec.summary()
    assert summary["billed"] == Decimal("46.25")
    assert summary["computed"] == Decimal("40.00")
    assert summary["variance"] == Decimal("6.25")
    assert summary["variance_pct"] == Decimal("13.51")
    assert summary["coverage_pct"] == Decimal("81.84")
    assert summary["telemetry_coverage_pct"] == Decimal("100.00")
    assert summary["groups"] == 42 and summary["matched_groups"] == 10
    assert summary["unbilled_providers"] == {"vllm": Decimal("0.50")}
    sonnet = [ln for ln in rec.lines if ln.model == "claude-sonnet-4-20250514"]
    assert all(not ln.flags and ln.confidence == "high" and ln.variance == 0 for ln in sonnet)
    assert {ln.confidence for ln in rec.lines if DISCOUNT in ln.flags} == {"medium"}
    assert {ln.confidence for ln in rec.lines if MISSING_TELEMETRY in ln.flags} == {"low"}


def test_untracked_events_and_cache_discount_not_reflected(store: DuckDBStore) -> None:
    t = PERIOD.start + timedelta(hours=3)
    store.append_events(
        [
            Event(
                provider="openai",
                model="gpt-4o",
                provider_account="p",
                cost_usd=Decimal("2.00"),
                started_at=t,
            ),
            Event(
                provider="openai", model="o3", provider_account="p", cost_usd=Decimal("1.00"), started_at=t
            ),
        ]
    )
    day = datetime(2026, 10, 1, tzinfo=UTC)
    store.append_cost_lines(
        [
            CostLine(
                source="bill",
                provider="openai",
                model="gpt-4o",
                provider_account="p",
                sku=sku,
                billed_cost=Decimal(amount),
                charge_period_start=day,
                charge_period_end=day + timedelta(days=1),
            )
            for sku, amount in (("input", "1.20"), ("cache_read", "0.30"))
        ]
    )
    rec = reconcile(store, PERIOD)
    flags = {(ln.model, tuple(ln.flags)) for ln in rec.lines}
    assert flags == {("gpt-4o", (CACHE_NOT_REFLECTED,)), ("o3", (UNTRACKED_EVENTS,))}
    assert rec.summary()["telemetry_coverage_pct"] == Decimal("66.67")


def test_true_up_is_stored_beside_computed_cost_and_replaced_on_rerun(billed_store: DuckDBStore) -> None:
    rec = reconcile(billed_store, PERIOD)
    lines = true_up(billed_store, rec)
    assert len(lines) == 40
    stored = billed_store.query(
        "SELECT sum(billed_cost) AS adj, count(*) AS n FROM cost_lines WHERE kind = 'true_up'"
    )[0]
    # matched groups only: billed 37.85 - computed 40.00
    assert (stored["adj"], stored["n"]) == (Decimal("-2.15"), 40)
    events = billed_store.query("SELECT sum(cost_usd) AS s FROM events WHERE provider <> 'vllm'")[0]
    assert events["s"] == Decimal("40.00")
    true_up(billed_store, rec)
    assert billed_store.query("SELECT count(*) AS n FROM cost_lines WHERE kind = 'true_up'")[0]["n"] == 40
    # Reconciliation ignores its own true-ups.
    assert reconcile(billed_store, PERIOD).summary()["billed"] == Decimal("46.25")
