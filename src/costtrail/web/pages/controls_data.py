"""Budgets and alerts from the controls package, when the ledger has them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from costtrail.controls.alerts import read_alerts
from costtrail.controls.budgets import BudgetGate, BudgetStatus
from costtrail.controls.config import ControlsConfig
from costtrail.controls.spend import StoreSpend
from costtrail.web import charts
from costtrail.web.blocks import Page, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, segment

ALERT_LIMIT = 200


def _visible(ctx: PageContext, scope: dict[str, Any]) -> bool:
    tenant = ctx.viewer.tenant_id
    return tenant is None or scope.get("tenant_id", scope.get("tenant")) == tenant


def budget_statuses(ctx: PageContext) -> list[BudgetStatus]:
    """Each budget's status now, from the controls file the server was started with (if any)."""
    path: Path | None = ctx.controls_file
    if path is None or not path.exists():
        return []
    config = ControlsConfig.load(path)
    gate = BudgetGate(config.budgets, source=StoreSpend(ctx.store))
    return [s for s in gate.status() if _visible(ctx, s.scope)]


def alerts(ctx: PageContext) -> list[dict[str, Any]]:
    rows = read_alerts(ctx.store, since=ctx.filters.since, limit=ALERT_LIMIT)
    return [r for r in rows if _visible(ctx, r["scope"])]


def _alert_rows(ctx: PageContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        evidence = r["evidence"] if isinstance(r["evidence"], dict) else {}
        out.append(
            {
                "raised_at": r["raised_at"],
                "severity": r["severity"],
                "kind": r["kind"],
                "title": r["title"],
                "scope": ", ".join(f"{k}={v}" for k, v in sorted(r["scope"].items())),
                "evidence_run": evidence.get("run_id"),
                "evidence_workflow": evidence.get("workflow") or r["scope"].get("workflow"),
                "evidence_tenant": r["scope"].get("tenant_id"),
            }
        )
    return out


def _alerts_table(ctx: PageContext, rows: list[dict[str, Any]]) -> Table:
    def evidence(row: Any) -> str | None:
        if row.get("evidence_run"):
            return ctx.link(f"/runs/{segment(row['evidence_run'])}")
        if row.get("evidence_workflow"):
            return ctx.link(f"/workflows/{segment(row['evidence_workflow'])}")
        if row.get("evidence_tenant"):
            return ctx.link("/", tenant=str(row["evidence_tenant"]))
        return None

    return Table(
        "alerts",
        "Alerts",
        [
            TableColumn("raised_at", "raised"),
            TableColumn("severity", "severity"),
            TableColumn("kind", "kind"),
            TableColumn("title", "alert", link=evidence),
            TableColumn("scope", "scope"),
        ],
        _alert_rows(ctx, rows),
        note="Click an alert for its evidence (the run or workflow that raised it).",
    )


def _budget_table(statuses: list[BudgetStatus]) -> Table:
    return Table(
        "budgets",
        "Budgets",
        [
            TableColumn("budget", "budget"),
            TableColumn("scope", "scope"),
            TableColumn("period", "period"),
            TableColumn("action", "action"),
            TableColumn("limit", "limit", "money"),
            TableColumn("spent", "spent", "money"),
            TableColumn("remaining", "remaining", "money"),
            TableColumn("utilization", "used", "pct"),
            TableColumn("status", "status"),
        ],
        [{**s.as_row(), "utilization": s.utilization} for s in statuses],
        highlight=lambda r: r["status"] != "ok",
    )


def budget_blocks(ctx: PageContext) -> list[Section]:
    statuses = budget_statuses(ctx)
    if not statuses:
        return []
    gauges = charts.gauges(
        "budget-gauges", "Budget utilization", [(s.name, s.utilization) for s in statuses[:6]]
    )
    return [Section("Budgets", [gauges])]


def alert_blocks(ctx: PageContext) -> list[Section]:
    rows = alerts(ctx)
    if not rows:
        return []
    return [Section("Active alerts", [_alerts_table(ctx, rows[:10])])]


def alerts_page(ctx: PageContext) -> Page:
    statuses = budget_statuses(ctx)
    sections = []
    if statuses:
        sections.append(
            Section(
                "Budgets",
                [
                    charts.gauges(
                        "budget-gauges", "Utilization", [(s.name, s.utilization) for s in statuses[:6]]
                    ),
                    _budget_table(statuses),
                ],
            )
        )
    sections.append(Section("Alerts", [_alerts_table(ctx, alerts(ctx))]))
    return Page("Alerts & budgets", sections)
