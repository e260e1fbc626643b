"""Guardrails over the ledger: each looks for one pattern and returns alerts with their evidence.

Run them on a schedule (``costtrail guard``) or from a service; each reads the
ledger through the store protocol only (portable SQL) and is pure otherwise:
the same ledger and ``now`` give the same alerts.

- :func:`cost_spikes`: cost per completed run of a workflow above ``factor`` x its rolling baseline.
- :func:`retry_loops`: a run with more than N events or N retries inside a sliding window.
- :func:`pacing`: a budget whose spend so far implies exhausting it before its period ends.
- :func:`~costtrail.controls.anomaly.tenant_anomalies`: a tenant's daily cost outside its own range.
- :func:`policy_violations`: calls of a model outside a workflow's or feature's model policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.controls.alerts import Alert, AlertDispatcher
from costtrail.controls.anomaly import tenant_anomalies
from costtrail.controls.budgets import BudgetGate, BudgetStatus, amount_text
from costtrail.controls.config import (
    ControlsConfig,
    CostSpikeConfig,
    ModelPolicyConfig,
    PacingConfig,
    RetryLoopConfig,
)
from costtrail.controls.periods import as_utc
from costtrail.controls.policy import UnitPrices, policy_alert, violation
from costtrail.controls.spend import StoreSpend
from costtrail.ledger.store import LedgerStore
from costtrail.schema.amounts import MICRO


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def cost_spikes(store: LedgerStore, cfg: CostSpikeConfig, now: datetime) -> list[Alert]:
    """Workflows whose cost per completed run in the last ``window_hours`` exceeds ``factor`` x baseline.

    A run counts in the window its last event falls in; the baseline is the
    ``baseline_days`` before the window.
    """
    if not cfg.enabled:
        return []
    now = as_utc(now)
    w_start = now - timedelta(hours=cfg.window_hours)
    b_start = w_start - timedelta(days=cfg.baseline_days)
    lit = store.dialect.literal
    runs = (
        f"SELECT workflow, run_id, sum(cost_usd) AS cost, max(started_at) AS ended "
        f"FROM {store.dialect.final('events')} WHERE run_id IS NOT NULL AND workflow IS NOT NULL "
        f"AND started_at >= {lit(b_start)} AND started_at < {lit(now)} GROUP BY workflow, run_id"
    )
    rows = store.query(
        f"SELECT workflow, "
        f"sum(CASE WHEN ended >= {lit(w_start)} THEN cost END) AS cur_cost, "
        f"sum(CASE WHEN ended >= {lit(w_start)} THEN 1 ELSE 0 END) AS cur_runs, "
        f"sum(CASE WHEN ended < {lit(w_start)} THEN cost END) AS base_cost, "
        f"sum(CASE WHEN ended < {lit(w_start)} THEN 1 ELSE 0 END) AS base_runs "
        f"FROM ({runs}) AS r GROUP BY workflow ORDER BY workflow"
    )
    alerts = []
    for r in rows:
        cur_runs, base_runs = int(r["cur_runs"] or 0), int(r["base_runs"] or 0)
        if cur_runs < cfg.min_runs or base_runs < cfg.min_baseline_runs:
            continue
        cur = _dec(r["cur_cost"]) / cur_runs
        base = _dec(r["base_cost"]) / base_runs
        if base <= 0 or cur <= cfg.factor * base:
            continue
        top = store.query(
            f"SELECT run_id, cost FROM ({runs}) AS r WHERE workflow = {lit(r['workflow'])} "
            f"AND ended >= {lit(w_start)} ORDER BY cost DESC, run_id LIMIT 5"
        )
        ratio = (cur / base).quantize(Decimal("0.01"))
        alerts.append(
            Alert(
                kind="cost_spike",
                key=f"cost_spike:{r['workflow']}:{w_start.date().isoformat()}",
                severity="warning",
                title=f"{r['workflow']}: cost per run {ratio}x its {cfg.baseline_days}-day baseline",
                message=(
                    f"workflow {r['workflow']!r}: ${cur.quantize(MICRO)} per completed run over the last "
                    f"{cfg.window_hours}h ({cur_runs} runs) vs ${base.quantize(MICRO)} over the "
                    f"{cfg.baseline_days} days before ({base_runs} runs): {ratio}x, above {cfg.factor}x"
                ),
                scope={"workflow": r["workflow"]},
                evidence={
                    "workflow": r["workflow"],
                    "cost_per_run": cur.quantize(MICRO),
                    "baseline_cost_per_run": base.quantize(MICRO),
                    "ratio": ratio,
                    "factor": cfg.factor,
                    "runs": cur_runs,
                    "baseline_runs": base_runs,
                    "window_start": w_start,
                    "top_runs": [{"run_id": t["run_id"], "cost_usd": _dec(t["cost"])} for t in top],
                },
                raised_at=now,
            )
        )
    return alerts


def retry_loops(store: LedgerStore, cfg: RetryLoopConfig, now: datetime) -> list[Alert]:
    """Runs with more than ``max_events`` events or ``max_retries`` retries within ``window_minutes``.

    SQL narrows to runs over either limit in the lookback; the sliding window is
    then checked exactly on those runs' timestamps.
    """
    if not cfg.enabled:
        return []
    now = as_utc(now)
    start = now - timedelta(hours=cfg.lookback_hours)
    lit = store.dialect.literal
    events = store.dialect.final("events")
    retry = "CASE WHEN retry_count > 0 OR status = 'retry' THEN 1 ELSE 0 END"
    base = (
        f"FROM {events} WHERE run_id IS NOT NULL AND started_at >= {lit(start)} AND started_at < {lit(now)}"
    )
    candidates = store.query(
        f"SELECT run_id {base} GROUP BY run_id "
        f"HAVING count(*) > {cfg.max_events} OR sum({retry}) > {cfg.max_retries} ORDER BY run_id"
    )
    alerts = []
    window = timedelta(minutes=cfg.window_minutes)
    for c in candidates:
        run_id = c["run_id"]
        rows = store.query(
            f"SELECT started_at, {retry} AS is_retry, cost_usd, workflow, step, tenant_id, model "
            f"{base} AND run_id = {lit(run_id)} ORDER BY started_at"
        )
        found = _densest(rows, window, cfg)
        if found is None:
            continue
        lo, hi = found
        burst = rows[lo : hi + 1]
        retries = sum(int(r["is_retry"]) for r in burst)
        cost = sum((_dec(r["cost_usd"]) for r in burst), Decimal(0))
        steps = sorted({r["step"] for r in burst if r["step"]})
        first = rows[0]
        alerts.append(
            Alert(
                kind="retry_loop",
                key=f"retry_loop:{run_id}",
                severity="critical",
                title=(
                    f"run {run_id} is looping: {len(burst)} events, {retries} retries "
                    f"in {cfg.window_minutes} min"
                ),
                message=(
                    f"run {run_id!r} of workflow {first['workflow']!r} made {len(burst)} events "
                    f"({retries} retries) between {as_utc(burst[0]['started_at']).isoformat()} and "
                    f"{as_utc(burst[-1]['started_at']).isoformat()}, costing ${cost.quantize(MICRO)} "
                    f"(limits: {cfg.max_events} events or {cfg.max_retries} retries "
                    f"per {cfg.window_minutes} min)"
                ),
                scope={
                    k: v for k, v in (("workflow", first["workflow"]), ("tenant_id", first["tenant_id"])) if v
                },
                evidence={
                    "run_id": run_id,
                    "workflow": first["workflow"],
                    "events": len(burst),
                    "retries": retries,
                    "cost_usd": cost,
                    "first_at": as_utc(burst[0]["started_at"]),
                    "last_at": as_utc(burst[-1]["started_at"]),
                    "steps": steps,
                    "models": sorted({r["model"] for r in burst if r["model"]}),
                },
                raised_at=now,
            )
        )
    return alerts


def _densest(
    rows: Sequence[dict[str, Any]], window: timedelta, cfg: RetryLoopConfig
) -> tuple[int, int] | None:
    """The widest run of events inside one window that breaks a limit (indexes into ``rows``)."""
    best: tuple[int, int] | None = None
    lo, retries = 0, 0
    for hi, row in enumerate(rows):
        retries += int(row["is_retry"])
        while row["started_at"] - rows[lo]["started_at"] >= window:
            retries -= int(rows[lo]["is_retry"])
            lo += 1
        if (hi - lo + 1 > cfg.max_events or retries > cfg.max_retries) and (
            best is None or hi - lo > best[1] - best[0]
        ):
            best = (lo, hi)
    return best


def pacing(statuses: Sequence[BudgetStatus], cfg: PacingConfig, now: datetime) -> list[Alert]:
    """Calendar budgets whose spend so far, at the period's average rate, exhausts them before it ends."""
    if not cfg.enabled:
        return []
    now = as_utc(now)
    alerts = []
    for s in statuses:
        if s.period.startswith("rolling") or s.exhausted or s.spent <= 0:
            continue
        length = (s.period_end - s.period_start).total_seconds()
        elapsed = (now - s.period_start).total_seconds()
        fraction = elapsed / length
        if fraction < cfg.min_elapsed_fraction:
            continue
        projected = (s.spent / Decimal(str(fraction))).quantize(MICRO)
        if projected < s.limit:
            continue
        exhausts = s.period_start + timedelta(seconds=elapsed * float(s.limit / s.spent))
        alerts.append(
            Alert(
                kind="budget_pacing",
                key=f"budget_pacing:{s.name}:{s.period_start.isoformat()}",
                severity="warning",
                title=f"budget {s.name!r} is on pace to run out before the {s.period} ends",
                message=(
                    f"budget {s.name!r} spent {amount_text(s.spent, s.unit)} of "
                    f"{amount_text(s.limit, s.unit)} {s.unit} in {fraction:.0%} of its {s.period}; "
                    f"at this rate it reaches {amount_text(projected, s.unit)} by "
                    f"{s.period_end.isoformat()} and is exhausted at {exhausts.isoformat()}"
                ),
                scope=dict(s.scope),
                evidence={
                    "budget": s.name,
                    "spent": s.spent,
                    "limit": s.limit,
                    "unit": s.unit,
                    "elapsed_fraction": round(fraction, 4),
                    "projected_period_spend": projected,
                    "projected_exhaustion": exhausts,
                    "period_end": s.period_end,
                    "owner": s.owner,
                },
                raised_at=now,
            )
        )
    return alerts


def policy_violations(
    store: LedgerStore,
    policies: Sequence[ModelPolicyConfig],
    prices: UnitPrices,
    now: datetime,
    hours: int = 24,
) -> list[Alert]:
    """Calls in the last ``hours`` that break a model policy (those that bypassed the gateway)."""
    now = as_utc(now)
    lit = store.dialect.literal
    alerts = []
    for policy in policies:
        where = " AND ".join(f"{k} = {lit(v)}" for k, v in sorted(policy.scope.items())) or "TRUE"
        rows = store.query(
            f"SELECT provider, model, count(*) AS calls, sum(cost_usd) AS cost, min(run_id) AS example_run "
            f"FROM {store.dialect.final('events')} WHERE model IS NOT NULL AND {where} "
            f"AND started_at >= {lit(now - timedelta(hours=hours))} AND started_at < {lit(now)} "
            f"GROUP BY provider, model ORDER BY model"
        )
        for r in rows:
            why = violation(policy, r["provider"], r["model"], prices, now)
            if why is None:
                continue
            evidence = {
                "calls": int(r["calls"]),
                "cost_usd": _dec(r["cost"]),
                "example_run": r["example_run"],
                "hours": hours,
            }
            alerts.append(policy_alert(policy, r["model"], why, now, evidence))
    return alerts


def run_guardrails(
    store: LedgerStore,
    config: ControlsConfig,
    now: datetime,
    *,
    dispatcher: AlertDispatcher | None = None,
    budgets: BudgetGate | None = None,
    prices: UnitPrices | None = None,
) -> list[Alert]:
    """Every configured guardrail over the ledger; with a dispatcher, alerts are sent (deduplicated).

    Returns all alerts found (sent or suppressed by the cooldown).
    """
    g = config.guardrails
    found: list[Alert] = []
    found += cost_spikes(store, g.cost_spike, now)
    found += retry_loops(store, g.retry_loop, now)
    if config.budgets and g.pacing.enabled:
        gate = budgets or BudgetGate(config.budgets, source=StoreSpend(store), clock=lambda: as_utc(now))
        found += pacing(gate.status(), g.pacing, now)
    found += tenant_anomalies(store, g.tenant_anomaly, now)
    if config.model_policies:
        found += policy_violations(store, config.model_policies, prices or UnitPrices(), now)
    if dispatcher is not None:
        for alert in found:
            dispatcher.emit(alert)
    return found
