"""Overview: where the money goes, what moved, and what needs attention."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from costtrail.reports import report
from costtrail.web import charts
from costtrail.web.blocks import Headline, Page, Row, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, previous_window, segment, unpriced_notice, window
from costtrail.web.querying import together

# what the cards draw (cost per successful completion brings its successful_runs along)
HEADLINE = ("total_cost", "runs", "cost_per_successful_run", "unpriced_events")
# the previous period's run success is drawn in the daily trend; its headline needs no run join
PREVIOUS = ("total_cost", "runs")
MOVERS = 8


def _change(now: Any, before: Any) -> float | None:
    if now is None or not before:
        return None
    return float((Decimal(now) - Decimal(before)) / Decimal(before))


def _costs(ctx: PageContext, dim: str, scope: dict[str, Any] | None) -> Callable[[], list[dict[str, Any]]]:
    """A report call (not yet made) of the cost per ``dim`` over ``scope`` (None: nothing)."""
    if scope is None:
        return list
    return lambda: list(report(ctx.store, by=[dim], metrics=["total_cost"], **scope))


def movers(dim: str, now: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups whose cost rose most against the previous period (both periods from the report API)."""
    before = {r[dim]: r["total_cost"] for r in previous}
    rows = []
    for r in now:
        earlier = before.get(r[dim], Decimal(0))
        rows.append({dim: r[dim], "total_cost": r["total_cost"], "previous_cost": earlier})
        # An unpriced period (None) adds nothing priced to compare: it counts as no priced cost.
        rows[-1]["increase"] = (r["total_cost"] or Decimal(0)) - (earlier or Decimal(0))
    rows.sort(key=lambda r: r["increase"], reverse=True)
    return rows[:MOVERS]


def _movers_table(
    dim: str, label: str, link: Callable[[Row], str | None], rows: list[dict[str, Any]]
) -> Table:
    return Table(
        f"movers-{dim}",
        f"Top movers: {label}",
        [
            TableColumn(dim, label, link=link),
            TableColumn("total_cost", "cost", "money"),
            TableColumn("previous_cost", "previous period", "money"),
            TableColumn("increase", "change", "money"),
        ],
        rows,
    )


def overview_page(ctx: PageContext) -> Page:
    from costtrail.web.pages.controls_data import alert_blocks, budget_blocks

    scope, prev_window = window(ctx), previous_window(ctx)
    # every question of this page is independent: ask them at once
    (head, prev_rows, daily, trend, wf_now, wf_before, cust_now, cust_before, budgets, alerts) = together(
        ctx.store,
        lambda: report(ctx.store, by=[], metrics=list(HEADLINE), **scope),
        lambda: report(ctx.store, by=[], metrics=list(PREVIOUS), **prev_window) if prev_window else [],
        lambda: report(ctx.store, by=["day", "workflow"], metrics=["total_cost"], order_by=["day"], **scope),
        # the trend draws one line: ask for that metric only, not the whole day view
        lambda: report(ctx.store, by=["day"], metrics=["cost_per_successful_run"], order_by=["day"], **scope),
        _costs(ctx, "workflow", scope),
        _costs(ctx, "workflow", prev_window),
        _costs(ctx, "customer_id", scope),
        _costs(ctx, "customer_id", prev_window),
        lambda: budget_blocks(ctx),
        lambda: alert_blocks(ctx),
    )
    now = head[0] if head else {}
    before: dict[str, Any] = prev_rows[0] if prev_rows else {}
    cards = [
        Headline(
            "total_cost",
            "Total cost",
            now.get("total_cost"),
            "money",
            _change(now.get("total_cost"), before.get("total_cost")),
        ),
        Headline("runs", "Runs", now.get("runs"), "int", _change(now.get("runs"), before.get("runs"))),
        Headline(
            "cost_per_successful_run",
            "Cost per successful completion",
            now.get("cost_per_successful_run"),
            "money",
            _change(now.get("cost_per_successful_run"), before.get("cost_per_successful_run")),
        ),
        Headline("previous_cost", "Previous period", before.get("total_cost"), "money")
        if prev_window
        else None,
        Headline("unpriced_events", "Unpriced events", now.get("unpriced_events"), "int"),
    ]

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
                _movers_table("workflow", "workflow", workflow_link, movers("workflow", wf_now, wf_before)),
                _movers_table(
                    "customer_id", "customer", customer_link, movers("customer_id", cust_now, cust_before)
                ),
            ],
        ),
        *budgets,
        *alerts,
    ]
    return Page("Overview", sections)
