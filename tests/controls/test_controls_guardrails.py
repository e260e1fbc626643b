"""Each guardrail: its pattern injected into normal traffic raises exactly one alert; background, none."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from tests.controls.controls_traffic import NOW, make_run

from costtrail.controls.anomaly import tenant_anomalies
from costtrail.controls.budgets import BudgetGate
from costtrail.controls.config import ControlsConfig, CostSpikeConfig, RetryLoopConfig, TenantAnomalyConfig
from costtrail.controls.guardrails import cost_spikes, pacing, policy_violations, retry_loops, run_guardrails
from costtrail.controls.policy import UnitPrices
from costtrail.controls.spend import StoreSpend
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event

Priced = Callable[[list[Event]], list[Event]]

CONTROLS = """
budgets:
  - {name: prod-month, scope: {environment: production}, period: month, limit_usd: 40}
  - {name: acme-day, scope: {tenant_id: acme}, period: day, limit_usd: 5, action: alert}
model_policies:
  - name: support-models
    scope: {workflow: support_reply}
    allowed_models: [gpt-4o-mini, "claude-haiku-*"]
    action: reject
  - name: docs-price-cap
    scope: {feature: documents}
    max_output_usd_per_mtok: 6
    action: alert
"""


def test_background_alone_raises_nothing(ledger: DuckDBStore) -> None:
    alerts = run_guardrails(ledger, ControlsConfig.from_yaml(CONTROLS), NOW)
    assert alerts == []


def test_cost_spike_of_one_workflow(ledger: DuckDBStore, priced: Priced) -> None:
    rng = random.Random(1)
    spiked = []
    for i in range(12):  # doc_extract runs in the last day write 3.5x the output
        at = NOW - timedelta(hours=20) + timedelta(minutes=90 * i)
        spiked += make_run(rng, "doc_extract", f"spike-{i}", "globex", at, out_factor=3.5 * 5)
    ledger.append_events(priced(spiked))
    alerts = cost_spikes(ledger, CostSpikeConfig(), NOW)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.kind == "cost_spike" and a.scope == {"workflow": "doc_extract"}
    ev = a.evidence
    assert ev["ratio"] > 2 and ev["cost_per_run"] > 2 * ev["baseline_cost_per_run"]
    assert ev["baseline_runs"] > 100 and ev["runs"] > 12
    assert {r["run_id"] for r in ev["top_runs"]} <= {f"spike-{i}" for i in range(12)}
    assert len(ev["top_runs"]) == 5
    # the evidence matches the ledger to the cent
    top = ev["top_runs"][0]
    row = ledger.query(f"SELECT sum(cost_usd) AS c FROM events WHERE run_id = '{top['run_id']}'")[0]
    assert top["cost_usd"] == row["c"]


def test_retry_loop_in_one_run(ledger: DuckDBStore, priced: Priced) -> None:
    loop = [
        Event(
            provider="openai",
            model="gpt-4o-mini",
            workflow="support_reply",
            run_id="run-loop",
            step="draft",
            tenant_id="hooli",
            environment="production",
            input_tokens=2100,
            output_tokens=300,
            retry_count=i,
            status="retry" if i % 2 else "error",
            started_at=NOW - timedelta(hours=3) + timedelta(seconds=6 * i),
        )
        for i in range(60)
    ]
    ledger.append_events(priced(loop))
    alerts = retry_loops(ledger, RetryLoopConfig(), NOW)
    assert len(alerts) == 1
    ev = alerts[0].evidence
    assert ev["run_id"] == "run-loop" and ev["workflow"] == "support_reply"
    assert ev["events"] == 60 and ev["retries"] == 59  # the first attempt has retry_count 0 and status error
    assert ev["steps"] == ["draft"]
    assert ev["cost_usd"] == sum((e.cost_usd or Decimal(0) for e in loop), Decimal(0))
    assert ev["last_at"] - ev["first_at"] == timedelta(seconds=6 * 59)


def test_a_long_slow_run_is_not_a_loop(ledger: DuckDBStore, priced: Priced) -> None:
    slow = [
        Event(
            provider="openai",
            model="gpt-4o-mini",
            workflow="onboarding",
            run_id="run-slow",
            tenant_id="acme",
            input_tokens=500,
            output_tokens=100,
            started_at=NOW - timedelta(hours=20) + timedelta(minutes=15 * i),
        )
        for i in range(60)
    ]
    ledger.append_events(priced(slow))
    assert retry_loops(ledger, RetryLoopConfig(), NOW) == []


def test_budget_pacing(ledger: DuckDBStore, priced: Priced) -> None:
    config = ControlsConfig.from_yaml(CONTROLS)
    gate = BudgetGate(config.budgets, source=StoreSpend(ledger), clock=lambda: NOW)
    assert pacing(gate.status(), config.guardrails.pacing, NOW) == []
    burst = [
        Event(
            provider="openai",
            model="text-embedding-3-large",
            kind="embedding",
            environment="production",
            input_tokens=40_000_000,
            started_at=NOW - timedelta(hours=2, minutes=i),
        )
        for i in range(4)
    ]
    ledger.append_events(priced(burst))  # 4 x $5.20 reindexing job
    gate = BudgetGate(config.budgets, source=StoreSpend(ledger), clock=lambda: NOW)
    alerts = pacing(gate.status(), config.guardrails.pacing, NOW)
    assert len(alerts) == 1
    ev = alerts[0].evidence
    assert ev["budget"] == "prod-month" and ev["limit"] == 40
    spent = ledger.query(
        "SELECT sum(cost_usd) AS c FROM events "
        "WHERE environment = 'production' AND started_at >= '2026-03-01'"
    )[0]["c"]
    assert ev["spent"] == spent
    elapsed = (11 * 86400 + 12 * 3600) / (31 * 86400)
    assert ev["elapsed_fraction"] == round(elapsed, 4)
    assert ev["projected_period_spend"] == (spent / Decimal(str(elapsed))).quantize(Decimal("0.000001"))
    assert NOW < ev["projected_exhaustion"] < ev["period_end"]


def test_tenant_anomaly_and_new_tenant(ledger: DuckDBStore, priced: Priced) -> None:
    rng = random.Random(3)
    yesterday = (NOW - timedelta(days=1)).replace(hour=0, minute=0)
    burst = []
    for i in range(60):  # umbrella usually runs ~8 mixed runs a day; yesterday 60 document runs
        burst += make_run(rng, "doc_extract", f"umb-{i}", "umbrella", yesterday + timedelta(minutes=20 * i))
    ledger.append_events(priced(burst))
    alerts = tenant_anomalies(ledger, TenantAnomalyConfig(), NOW)
    assert [a.kind for a in alerts] == ["tenant_anomaly"]
    ev = alerts[0].evidence
    assert ev["tenant_id"] == "umbrella" and ev["direction"] == "above" and ev["day"] == yesterday.date()
    day_cost = ledger.query(
        "SELECT sum(cost_usd) AS c FROM events WHERE tenant_id = 'umbrella' "
        "AND started_at >= '2026-03-11' AND started_at < '2026-03-12'"
    )[0]["c"]
    assert ev["cost_usd"] == day_cost and ev["robust_z"] > 5 and ev["history_days"] == 9

    newcomer = make_run(rng, "onboarding", "new-1", "wayne", yesterday + timedelta(hours=9))
    ledger.append_events(priced(newcomer))
    alerts = tenant_anomalies(ledger, TenantAnomalyConfig(), NOW)
    assert [(a.kind, a.scope["tenant_id"]) for a in alerts] == [
        ("tenant_anomaly", "umbrella"),
        ("new_tenant", "wayne"),
    ]


def test_model_policy_violations_in_the_ledger(ledger: DuckDBStore, priced: Priced) -> None:
    config = ControlsConfig.from_yaml(CONTROLS)
    prices = UnitPrices()
    assert policy_violations(ledger, config.model_policies, prices, NOW) == []
    off_policy = [
        Event(
            provider="openai",
            model="gpt-4o",
            workflow="support_reply",
            run_id=f"run-x{i}",
            tenant_id="acme",
            input_tokens=3000,
            output_tokens=500,
            started_at=NOW - timedelta(hours=i + 1),
        )
        for i in range(3)
    ]
    ledger.append_events(priced(off_policy))
    alerts = policy_violations(ledger, config.model_policies, prices, NOW)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.kind == "model_policy" and a.evidence["policy"] == "support-models"
    assert a.evidence["model"] == "gpt-4o" and a.evidence["calls"] == 3
    assert a.evidence["cost_usd"] == sum((e.cost_usd or Decimal(0) for e in off_policy), Decimal(0))
    assert "not in the allowed models" in a.message
