"""Features and customers: cost to serve, revenue and margin, cost per outcome."""

from __future__ import annotations

from typing import Any

from costtrail.finance.unit_economics import cost_per_outcome, cost_to_serve
from costtrail.reports import view_report
from costtrail.web import charts
from costtrail.web.blocks import Column, Page, Row, Section, Table
from costtrail.web.pages.context import PageContext, period_of, unpriced_notice, window

OUTCOMES = 10


def _with_margin(ctx: PageContext, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """Add cost-to-serve, revenue and margin (finance) to the customer rows, when revenue exists."""
    serve = {r.key: r for r in cost_to_serve(ctx.store, period_of(ctx), by="customer")}
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


def _outcome_rows(ctx: PageContext) -> list[dict[str, Any]]:
    if ctx.viewer.tenant_id is not None:
        return []  # cost per outcome is computed across tenants; not shown to a tenant reader
    names = ctx.store.query(
        f"SELECT outcome, count(*) AS n FROM {ctx.store.dialect.final('outcomes')} "
        f"GROUP BY outcome ORDER BY n DESC LIMIT {OUTCOMES}"
    )
    return [cost_per_outcome(ctx.store, r["outcome"], period_of(ctx)).as_dict() for r in names]


def customers_page(ctx: PageContext) -> Page:
    features = view_report(ctx.store, "feature", **window(ctx))
    customers, has_revenue = _with_margin(ctx, list(view_report(ctx.store, "customer", **window(ctx))))

    def customer_link(row: Row) -> str | None:
        return ctx.link("/customers", customer=str(row["customer_id"])) if row["customer_id"] else None

    def dilutive(row: Row) -> bool:
        return row.get("margin_pct") is not None and row["margin_pct"] < 0

    customer_columns = [
        Column("customer_id", "customer", link=customer_link),
        Column("total_cost", "direct cost", "money"),
        Column("runs", "runs", "int"),
        Column("avg_cost_per_run", "avg per run", "money"),
        Column("cost_per_successful_run", "per successful completion", "money"),
    ]
    if has_revenue:
        customer_columns += [
            Column("cost_to_serve", "cost to serve", "money"),
            Column("revenue", "revenue", "money"),
            Column("gross_margin", "margin", "money"),
            Column("margin_pct", "margin %", "num"),
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
                        Column("feature", "feature"),
                        Column("total_cost", "total cost", "money"),
                        Column("runs", "runs", "int"),
                        Column("avg_cost_per_run", "avg per run", "money"),
                        Column("cost_per_successful_run", "per successful completion", "money"),
                        Column("total_input_tokens", "input tokens", "int"),
                        Column("total_output_tokens", "output tokens", "int"),
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
    outcomes = _outcome_rows(ctx)
    if outcomes:
        sections.append(
            Section(
                "Cost per outcome",
                [
                    Table(
                        "outcomes",
                        "Cost per successful outcome",
                        [
                            Column("outcome", "outcome"),
                            Column("workflows", "workflows"),
                            Column("outcomes", "outcomes", "int"),
                            Column("total_cost", "cost", "money"),
                            Column("cost_per_outcome", "cost per outcome", "money"),
                            Column("trailing_week", "trailing week", "money"),
                            Column("target", "target", "money"),
                            Column("reason", "drift"),
                        ],
                        outcomes,
                        highlight=lambda r: bool(r["drift"]),
                    )
                ],
            )
        )
    return Page("Features & customers", sections)
