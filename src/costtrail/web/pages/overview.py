"""Overview: where the money goes, what moved, and what needs attention."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from costtrail.reports import report, view_report
from costtrail.web import charts
from costtrail.web.blocks import Column, Metric, Page, Row, Section, Table
from costtrail.web.pages.context import PageContext, previous_window, segment, unpriced_notice, window

HEADLINE = ("total_cost", "runs", "successful_runs", "cost_per_successful_run", "events", "unpriced_events")
# the previous period's run success is drawn in the daily trend; its headline needs no run join
PREVIOUS = ("total_cost", "runs")
MOVERS = 8


def _change(now: Any, before: Any) -> float | None:
    if now is None or not before:
        return None
    return float((Decimal(now) - Decimal(before)) / Decimal(before))


def movers(ctx: PageContext, dim: str) -> list[dict[str, Any]]:
    """Groups whose cost rose most against the previous period (both periods from the report API)."""
    now = report(ctx.store, by=[dim], metrics=["total_cost"], **window(ctx))
    prev = previous_window(ctx)
    before = (
        {r[dim]: r["total_cost"] for r in report(ctx.store, by=[dim], metrics=["total_cost"], **prev)}
        if prev
        else {}
    )
    rows = []
    for r in now:
        previous = before.get(r[dim], Decimal(0))
        rows.append({dim: r[dim], "total_cost": r["total_cost"], "previous_cost": previous})
        rows[-1]["increase"] = r["total_cost"] - previous
    rows.sort(key=lambda r: r["increase"], reverse=True)
    return rows[:MOVERS]


def _movers_table(ctx: PageContext, dim: str, label: str, link: Callable[[Row], str | None]) -> Table:
    return Table(
        f"movers-{dim}",
        f"Top movers: {label}",
        [
            Column(dim, label, link=link),
            Column("total_cost", "cost", "money"),
            Column("previous_cost", "previous period", "money"),
            Column("increase", "change", "money"),
        ],
        movers(ctx, dim),
    )


def overview_page(ctx: PageContext) -> Page:
    from costtrail.web.pages.controls_data import alert_blocks, budget_blocks

    head = report(ctx.store, by=[], metrics=list(HEADLINE), **window(ctx))
    now = head[0] if head else {}
    prev_window = previous_window(ctx)
    before: dict[str, Any] = {}
    if prev_window is not None:
        prev_rows = report(ctx.store, by=[], metrics=list(PREVIOUS), **prev_window)
        before = prev_rows[0] if prev_rows else {}
    cards = [
        Metric(
            "total_cost",
            "Total cost",
            now.get("total_cost"),
            "money",
            _change(now.get("total_cost"), before.get("total_cost")),
        ),
        Metric("runs", "Runs", now.get("runs"), "int", _change(now.get("runs"), before.get("runs"))),
        Metric(
            "cost_per_successful_run",
            "Cost per successful completion",
            now.get("cost_per_successful_run"),
            "money",
            _change(now.get("cost_per_successful_run"), before.get("cost_per_successful_run")),
        ),
        Metric("previous_cost", "Previous period", before.get("total_cost"), "money")
        if prev_window
        else None,
        Metric("unpriced_events", "Unpriced events", now.get("unpriced_events"), "int"),
    ]
    daily = report(ctx.store, by=["day", "workflow"], metrics=["total_cost"], order_by=["day"], **window(ctx))
    trend = view_report(ctx.store, "day", **window(ctx))

    def workflow_link(r: Row) -> str | None:
        return ctx.link(f"/workflows/{segment(r['workflow'])}") if r["workflow"] else None

    def customer_link(r: Row) -> str | None:
        return ctx.link("/customers", customer=str(r["customer_id"])) if r["customer_id"] else None

    sections = [
        Section("", [*unpriced_notice(head.unpriced), *[c for c in cards if c is not None]]),
        Section(
            "Spend",
            [
                charts.stacked_bars(
                    "daily-by-workflow",
                    "Daily spend by workflow",
                    daily,
                    x="day",
                    series="workflow",
                    y="total_cost",
                ),
                charts.lines(
                    "cost-per-success",
                    "Cost per successful completion, by day",
                    trend,
                    x="day",
                    ys={"cost per successful completion": "cost_per_successful_run"},
                ),
            ],
        ),
        Section(
            "What moved",
            [
                _movers_table(ctx, "workflow", "workflow", workflow_link),
                _movers_table(ctx, "customer_id", "customer", customer_link),
            ],
        ),
        *budget_blocks(ctx),
        *alert_blocks(ctx),
    ]
    return Page("Overview", sections)
