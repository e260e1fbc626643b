"""The controls part of the demo: budgets (one trips and blocks), a retry loop, a tenant anomaly, evals.

Run after the simulation, on the same ledger (:func:`add_controls_demo`):

1. budgets: ``prod`` monthly (block, with room), the busiest tenant's daily budget
   (block, 2x its usual day) and ``support_reply`` monthly (alert, tight);
2. yesterday that tenant replays a week of its traffic in one day; the calls go
   through the real :class:`~costtrail.controls.budgets.BudgetGate` (on a clock set to
   each call's time), so the daily budget (2x its usual day) trips and blocks the rest;
   the second busiest tenant, with no budget, does the same: the tenant anomaly;
3. a ``support_reply`` run loops on its draft step (45 calls in 6 minutes);
4. eval results for ``support_reply`` are imported and the cheapest model over a 0.9
   pass rate is picked on the real traffic;
5. every guardrail runs; alerts land in the ledger's ``alerts`` table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from costtrail.controls.alerts import read_alerts
from costtrail.controls.budgets import BudgetGate
from costtrail.controls.chain import build_alerts
from costtrail.controls.config import ControlsConfig
from costtrail.controls.gate import RequestContext
from costtrail.controls.guardrails import run_guardrails
from costtrail.controls.spend import StoreSpend
from costtrail.ledger.rows import row_to_event
from costtrail.ledger.store import LedgerStore
from costtrail.optimize.audit import audit
from costtrail.optimize.cheapest import cheapest_model
from costtrail.optimize.evals import EvalResult, import_evals
from costtrail.optimize.traffic import TrafficScope
from costtrail.pricing import Pricer
from costtrail.schema import Event, new_event_id
from costtrail.schema.amounts import CENT

# The tenant-anomaly guardrail judges a tenant on at least a week of its own history.
MIN_CONTROLS_DAYS = 8
LOOP_RUN = "run-demo-retry-loop"
EVAL_PASS_RATES = {"gpt-4.1-nano": 0.84, "claude-haiku-4-5": 0.91, "gpt-4o-mini": 0.92, "gpt-4o": 0.95}


@dataclass
class ControlsDemo:
    """What the controls demo did, for the demo's report."""

    config_yaml: str
    tenant: str
    blocked_calls: int
    admitted_calls: int
    denial: str | None
    budgets: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    cheapest: dict[str, Any] | None
    drifted: list[str] | None = None  # what `costtrail audit --workflow support_reply` flags

    def alert_rows(self) -> list[dict[str, Any]]:
        return [
            {"raised_at": a["raised_at"], "kind": a["kind"], "message": a["message"]} for a in self.alerts
        ]


def _cents_up(amount: Decimal) -> Decimal:
    return max(CENT, amount.quantize(CENT, rounding=ROUND_UP))


def _busiest_tenants(store: LedgerStore, day: date) -> list[tuple[str, Decimal]]:
    """Tenants by their median daily cost over the two weeks before ``day``, busiest first."""
    lit, d = store.dialect.literal, store.dialect
    start = datetime.combine(day - timedelta(days=14), datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rows = store.query(
        f"SELECT tenant_id, {d.day('started_at')} AS day, sum(cost_usd) AS cost FROM {d.final('events')} "
        f"WHERE tenant_id IS NOT NULL AND started_at >= {lit(start)} AND started_at < {lit(end)} "
        f"GROUP BY tenant_id, {d.day('started_at')}"
    )
    daily: dict[str, list[Decimal]] = {}
    for r in rows:
        daily.setdefault(r["tenant_id"], []).append(Decimal(str(r["cost"] or 0)))
    if not daily:
        raise ValueError(
            "the ledger has no tenant traffic in the two weeks before yesterday: run the demo first"
        )
    # Days without traffic count as $0, as the tenant-anomaly guardrail counts them.
    medians = [
        (t, statistics.median(costs + [Decimal(0)] * (14 - len(costs)))) for t, costs in sorted(daily.items())
    ]
    return sorted(medians, key=lambda tc: tc[1], reverse=True)


def _month_projection(store: LedgerStore, where: str, now: datetime) -> Decimal:
    lit = store.dialect.literal
    row = store.query(
        f"SELECT sum(cost_usd) AS c FROM {store.dialect.final('events')} "
        f"WHERE started_at >= {lit(now - timedelta(days=7))} AND started_at < {lit(now)} AND {where}"
    )[0]
    return Decimal(str(row["c"] or 0)) / 7 * 31


def demo_controls_yaml(store: LedgerStore, now: datetime) -> tuple[str, str, str | None]:
    """The demo's controls file (sized on the ledger's own traffic), the tenant whose budget trips,
    and the tenant (with no budget) whose spike is the anomaly."""
    yesterday = (now - timedelta(days=1)).date()
    tenants = _busiest_tenants(store, yesterday)
    tenant, usual_day = tenants[0]
    spiking = tenants[1][0] if len(tenants) > 1 else None
    prod_month = _cents_up(_month_projection(store, "environment = 'prod'", now) * 3)
    support_month = _cents_up(_month_projection(store, "workflow = 'support_reply'", now) * Decimal("0.8"))
    text = f"""# Written by `costtrail demo`: budgets sized on this ledger's own traffic.
budgets:
  - name: prod-monthly
    scope: {{environment: prod}}
    period: month
    limit_usd: {prod_month}
    action: block
    owner: platform@acme-helpdesk.example
  - name: {tenant}-daily
    scope: {{tenant_id: {tenant}}}
    period: day
    limit_usd: {_cents_up(usual_day * 2)}
    action: block
    thresholds: [80, 100]
    owner: accounts@acme-helpdesk.example
  - name: support-reply-monthly
    scope: {{workflow: support_reply}}
    period: month
    limit_usd: {support_month}
    action: alert
    owner: support-ai@acme-helpdesk.example
guardrails:
  retry_loop: {{max_events: 30, max_retries: 10, window_minutes: 10}}
  tenant_anomaly: {{min_daily_usd: 0.05}}
alerts:
  cooldown_minutes: 60
  log: false
"""
    return text, tenant, spiking


def _replay_spike(
    store: LedgerStore, config: ControlsConfig, tenant: str, now: datetime, alerts: Any
) -> tuple[int, int, str | None]:
    """A week of the tenant's traffic again, yesterday (08:00-22:00), through the budget gate."""
    lit = store.dialect.literal
    yesterday = datetime.combine((now - timedelta(days=1)).date(), datetime.min.time(), tzinfo=UTC)
    rows = store.query(
        f"SELECT * FROM {store.dialect.final('events')} WHERE tenant_id = {lit(tenant)} "
        f"AND started_at >= {lit(yesterday - timedelta(days=7))} AND started_at < {lit(yesterday)} "
        f"ORDER BY started_at"
    )
    clock_at = [yesterday + timedelta(hours=8)]
    gate = BudgetGate(config.budgets, source=StoreSpend(store), clock=lambda: clock_at[0], alerts=alerts)
    admitted: list[Event] = []
    blocked, denial = 0, None
    for i, row in enumerate(rows):
        event = row_to_event(row)
        at = yesterday + timedelta(hours=8, seconds=i * 50400 / max(1, len(rows)))  # 08:00-22:00
        clone = event.model_copy(
            update={
                "event_id": new_event_id(),
                "started_at": at,
                "ended_at": None,
                "run_id": f"{event.run_id}-spike" if event.run_id else None,
            }
        )
        clock_at[0] = at
        ctx = RequestContext(
            provider=clone.provider,
            model=clone.model,
            workflow=clone.workflow,
            run_id=clone.run_id,
            feature=clone.feature,
            customer_id=clone.customer_id,
            tenant_id=clone.tenant_id,
            environment=clone.environment,
            team=clone.team,
            provider_account=clone.provider_account,
        )
        cost = clone.cost_usd or Decimal(0)
        decision = gate.reserve(ctx, cost)
        if not decision.allowed:
            blocked += 1
            denial = denial or decision.reason
            continue
        gate.settle(decision, cost)
        admitted.append(clone)
    store.append_events(admitted)
    return len(admitted), blocked, denial


def _retry_loop(store: LedgerStore, now: datetime, pricer: Pricer) -> None:
    lit = store.dialect.literal
    row = store.query(
        f"SELECT provider, model, tenant_id, customer_id, feature, team FROM {store.dialect.final('events')} "
        f"WHERE workflow = 'support_reply' AND kind = 'llm' AND started_at < {lit(now)} "
        f"ORDER BY started_at DESC LIMIT 1"
    )
    base = row[0] if row else {"provider": "openai", "model": "gpt-4o-mini"}
    start = now - timedelta(hours=3)
    loop = [
        Event(
            **{k: v for k, v in base.items() if v is not None},
            workflow="support_reply",
            run_id=LOOP_RUN,
            step="draft_reply",
            agent="writer",
            environment="prod",
            input_tokens=3200 + 40 * i,
            output_tokens=420,
            retry_count=i,
            status="retry" if i < 44 else "error",
            error_type="invalid_json" if i == 44 else None,
            started_at=start + timedelta(seconds=8 * i),
        )
        for i in range(45)
    ]
    store.append_events(pricer.apply(loop))


def _evals(store: LedgerStore, now: datetime) -> None:
    """Eval results shaped like each model's production calls, except that production prompts have
    doubled since the eval set was written (so ``costtrail audit`` has one story to tell)."""
    rows = store.query(
        f"SELECT model, avg(input_tokens) AS inp, avg(output_tokens) AS out, count(*) AS calls, "
        f"count(DISTINCT run_id) AS runs FROM {store.dialect.final('events')} "
        f"WHERE workflow = 'support_reply' AND kind = 'llm' AND run_id IS NOT NULL "
        f"AND run_id <> {store.dialect.literal(LOOP_RUN)} GROUP BY model"
    )
    shapes = {r["model"]: r for r in rows}
    overall = {"inp": 2000.0, "out": 300.0, "calls": 2, "runs": 1}
    day = (now - timedelta(days=3)).date()
    results = []
    for model, rate in EVAL_PASS_RATES.items():
        shape = shapes.get(model, overall)
        results.append(
            EvalResult(
                workflow="support_reply",
                model=model,
                eval_set="support-golden-v4",
                eval_date=day,
                pass_rate=rate,
                cases=250,
                avg_input_tokens=round(float(shape["inp"]) / 2),
                avg_output_tokens=round(float(shape["out"])),
                avg_calls_per_run=round(int(shape["calls"]) / max(1, int(shape["runs"])), 2),
            )
        )
    import_evals(store, results)


def add_controls_demo(
    store: LedgerStore, *, now: datetime | None = None, controls_path: Path | None = None
) -> ControlsDemo:
    """Add the controls demo to a simulated ledger (see the module doc); ``controls_path`` keeps the YAML."""
    now = now or datetime.now(UTC)
    pricer = Pricer()
    text, tenant, spiking = demo_controls_yaml(store, now)
    if controls_path is not None:
        controls_path.write_text(text)
    config = ControlsConfig.from_yaml(text, source=str(controls_path or "<demo controls>"))
    dispatcher = build_alerts(config, store, clock=lambda: now)
    try:
        admitted, blocked, denial = _replay_spike(store, config, tenant, now, dispatcher)
        if spiking is not None:  # no budget covers this tenant: the spike goes through, the anomaly shows
            _replay_spike(store, config, spiking, now, dispatcher)
        _retry_loop(store, now, pricer)
        _evals(store, now)
        run_guardrails(store, config, now, dispatcher=dispatcher)
    finally:
        dispatcher.close()
    status = BudgetGate(config.budgets, source=StoreSpend(store), clock=lambda: now).status()
    scope = TrafficScope(workflow="support_reply", since=now - timedelta(days=30), until=now)
    pick: dict[str, Any] | None
    drifted: list[str] | None
    try:
        pick = cheapest_model(store, scope, min_pass_rate=0.9).as_dict()
        drifted = audit(store, scope, sample=100).drifted
    except ValueError:
        pick, drifted = None, None
    return ControlsDemo(
        config_yaml=text,
        tenant=tenant,
        blocked_calls=blocked,
        admitted_calls=admitted,
        denial=denial,
        budgets=[s.as_row() for s in status],
        alerts=read_alerts(store, since=now - timedelta(days=2)),
        cheapest=pick,
        drifted=drifted,
    )
