"""Features and customers: cost to serve, revenue and margin, cost per outcome."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costtrail.finance.unit_economics import OutcomeGoal, ServeRow, cost_to_serve, costs_per_outcome
from costtrail.reports import report
from costtrail.web import charts
from costtrail.web.blocks import Page, Row, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, period_of, unpriced_notice, window
from costtrail.web.querying import together

OUTCOMES = 10
# what the tables draw (the ratios bring their parts along)
CUSTOMER_METRICS = ("total_cost", "runs", "avg_cost_per_run", "cost_per_successful_run")
FEATURE_METRICS = (*CUSTOMER_METRICS, "total_input_tokens", "total_output_tokens")
RATIO = Decimal("0.0001")


def _with_margin(rows: list[dict[str, Any]], serving: list[ServeRow]) -> tuple[list[dict[str, Any]], bool]:
    """Add cost-to-serve, revenue and margin (finance) to the customer rows, when revenue exists."""
    serve = {r.key: r for r in serving}
    has_revenue = any(r.revenue is not None for r in serve.values())
    out = []
    for row in rows:
        s = serve.get(row["customer_id"])
        extra = s.as_dict() if s is not None else {}
        out.append(
            {
                **row,
                **{
                    k: extra.get(k)
                    for k in ("cost_to_serve", "allocated_cost", "revenue", "gross_margin", "margin_pct")
                },
            }
        )
    return out, has_revenue


def _versus(unit: dict[str, Any]) -> dict[str, Any]:
    """Actual against target: the ratio and a verdict a reader can scan."""
    actual, target = unit["cost_per_outcome"], unit["target"]
    if target is None:
        status, over = "no target", None
    elif actual is None:
        status, over = "no successful outcomes", None
    else:
        over = ((actual - target) / target).quantize(RATIO)
        status = "over target" if actual > target else "within target"
    return {**unit, "vs_target": over, "status": status}


def outcome_rows(ctx: PageContext) -> list[dict[str, Any]]:
    """Cost per successful outcome (``finance.cost_per_outcome``) of the busiest outcomes and of
    every outcome with a target, each against its target."""
    if ctx.viewer.tenant_id is not None:
        return []  # cost per outcome is computed across tenants; not shown to a tenant reader
    names = [
        str(r["outcome"])
        for r in ctx.store.query(
            f"SELECT outcome, count(*) AS n FROM {ctx.store.dialect.final('outcomes')} "
            f"GROUP BY outcome ORDER BY n DESC, outcome LIMIT {OUTCOMES}"
        )
    ]
    targets = ctx.targets
    if targets is not None:
        names += [n for n in targets.names() if n not in names]
    period = period_of(ctx)

    goals = []
    for name in names:
        goal = targets.get(name) if targets is not None else None
        goals.append(OutcomeGoal(name, goal.target_usd, goal.drift_factor) if goal else OutcomeGoal(name))
    return [_versus(unit.as_dict()) for unit in costs_per_outcome(ctx.store, goals, period)]


def _outcome_section(ctx: PageContext, outcomes: list[dict[str, Any]]) -> Section:
    with_target = [r for r in outcomes if r["target"] is not None]
    blocks: list[Any] = []
    if with_target:
        blocks.append(
            charts.grouped_bars(
                "outcome-vs-target",
                "Cost per successful outcome against its target",
                with_target,
                x="outcome",
                ys={"actual": "cost_per_outcome", "target": "target"},
            )
        )
    note = (
        "Target: what one successful outcome may cost (the server's --targets file)."
        if with_target
        else "No targets yet: start the server with --targets units.yaml (see docs/dashboard.md)."
    )
    blocks.append(
        Table(
            "outcomes",
            "Cost per successful outcome",
            [
                TableColumn("outcome", "outcome"),
                TableColumn("workflows", "workflows"),
                TableColumn("outcomes", "outcomes", "int"),
                TableColumn("total_cost", "cost", "money"),
                TableColumn("cost_per_outcome", "cost per outcome", "unit"),
                TableColumn("target", "target", "unit"),
                TableColumn("vs_target", "vs target", "pct"),
                TableColumn("status", "status"),
                TableColumn("trailing_week", "trailing week", "unit"),
                TableColumn("reason", "drift"),
            ],
            outcomes,
            note=note,
            highlight=lambda r: r["status"] == "over target",
            highlight_note="Highlighted: outcomes that cost more than their target.",
        )
    )
    return Section("Cost per outcome", blocks)


def customers_page(ctx: PageContext) -> Page:
    store, scope = ctx.store, window(ctx)
    features, customer_rows, serving, outcomes = together(
        store,
        lambda: report(store, by=["feature"], metrics=FEATURE_METRICS, **scope),
        lambda: report(store, by=["customer_id"], metrics=CUSTOMER_METRICS, **scope),
        lambda: cost_to_serve(store, period_of(ctx), by="customer"),
        lambda: outcome_rows(ctx),
    )
    customers, has_revenue = _with_margin(list(customer_rows), serving)

    def customer_link(row: Row) -> str | None:
        return ctx.link("/customers", customer=str(row["customer_id"])) if row["customer_id"] else None

    def dilutive(row: Row) -> bool:
        return row.get("margin_pct") is not None and row["margin_pct"] < 0

    customer_columns = [
        TableColumn("customer_id", "customer", link=customer_link),
        TableColumn("total_cost", "direct cost", "money"),
        TableColumn("runs", "runs", "int"),
        TableColumn("avg_cost_per_run", "avg per run", "money"),
        TableColumn("cost_per_successful_run", "per successful completion", "money"),
    ]
    if has_revenue:
        customer_columns += [
            TableColumn("cost_to_serve", "cost to serve", "money"),
            TableColumn("revenue", "revenue", "money"),
            TableColumn("gross_margin", "margin", "money"),
            TableColumn("margin_pct", "margin %", "num"),
        ]
    sections = [
        Section(
            "Features",
            [
                *unpriced_notice(features.unpriced),
                charts.hbars(
                    "feature-cost", "Cost by feature", features, label="feature", value="total_cost"
                ),
                Table(
                    "features",
                    "Features",
                    [
                        TableColumn("feature", "feature"),
                        TableColumn("total_cost", "total cost", "money"),
                        TableColumn("runs", "runs", "int"),
                        TableColumn("avg_cost_per_run", "avg per run", "money"),
                        TableColumn("cost_per_successful_run", "per successful completion", "money"),
                        TableColumn("total_input_tokens", "input tokens", "int"),
                        TableColumn("total_output_tokens", "output tokens", "int"),
                    ],
                    features,
                ),
            ],
        ),
        Section(
            "Customers",
            [
                charts.hbars(
                    "customer-cost",
                    "Cost by customer (top 15)",
                    customers[:15],
                    label="customer_id",
                    value="total_cost",
                ),
                Table(
                    "customers",
                    "Customers",
                    customer_columns,
                    customers,
                    note=""
                    if has_revenue
                    else "Import revenue (costtrail revenue import) to see margin per customer.",
                    highlight=dilutive,
                    highlight_note="Highlighted: margin-dilutive customers (cost to serve above revenue)."
                    if has_revenue
                    else "",
                ),
            ],
        ),
    ]
    if outcomes:
        sections.append(_outcome_section(ctx, outcomes))
    return Page("Features & customers", sections)
