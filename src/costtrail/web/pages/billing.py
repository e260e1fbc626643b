"""Billing: each customer's invoice for the month from the price plans, a line's events behind it.

The month is the one the reader's time range ends in. Shown to readers of every
tenant only (an invoice is per customer, across tenants).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from costtrail.billing import InvoiceError, line_rows, preview
from costtrail.finance.period import Period
from costtrail.web.blocks import Headline, Notice, Page, Row, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, latest_event, segment

LINE_ROWS = 500
NO_PLANS = "No price plans: start the server with --plans plans.yaml to see invoices (docs/billing.md)."


def billing_month(ctx: PageContext) -> Period:
    """The calendar month the reader's range ends in (the latest data's month for an open range)."""
    end = ctx.filters.until or latest_event(ctx.store, None)
    if end is None:
        return Period.parse("2000-01")
    last = end - timedelta(microseconds=1) if ctx.filters.until else end
    return Period.parse(f"{last.year:04d}-{last.month:02d}")


def _line_columns(ctx: PageContext) -> list[TableColumn]:
    def behind(row: Row) -> str | None:
        return None if row["charge"] == "@minimum" else ctx.link(f"/billing/lines/{segment(row['line_id'])}")

    return [
        TableColumn("description", "line", link=behind),
        TableColumn("quantity", "quantity", "num"),
        TableColumn("included", "included", "num"),
        TableColumn("unit_price", "unit price", "unit"),
        TableColumn("per", "per", "num"),
        TableColumn("amount", "amount", "money"),
        TableColumn("cost", "cost behind", "money"),
        TableColumn("margin", "margin", "money"),
        TableColumn("unpriced_events", "unpriced events", "int"),
    ]


def billing_page(ctx: PageContext) -> Page | None:
    if ctx.viewer.tenant_id is not None:
        return None
    if ctx.plans is None:
        return Page("Billing", [Section("Billing", [Notice("info", NO_PLANS)])])
    month = billing_month(ctx)
    run = preview(ctx.store, ctx.plans, month)
    chosen = ctx.query.get("hint_customer") or (run.invoices[0].customer_id if run.invoices else None)

    def open_invoice(row: Row) -> str:
        return ctx.link("/billing", hint_customer=str(row["customer_id"]))

    cost = sum((i.cost for i in run.invoices if i.cost is not None), Decimal(0))
    blocks: list[Any] = [
        Headline("billed", f"Billed {month.label}", run.total),
        Headline("cost", "Ledger cost of the billed customers", cost),
        Headline("invoices", "Invoices", len(run.invoices), "int"),
    ]
    if run.without_plan:
        blocks.append(
            Notice("warning", f"{len(run.without_plan)} customers with usage have no plan: set default_plan.")
        )
    unpriced = sum(i.unpriced_events for i in run.invoices)
    if unpriced:
        blocks.append(
            Notice(
                "warning",
                f"{unpriced:,} events have no price: their cost is not in the margins, and cost-plus lines "
                "do not bill them until they are priced (costtrail reprice).",
            )
        )
    blocks.append(
        Table(
            "invoices",
            f"Invoices {month.label} (preview)",
            [
                TableColumn("customer_id", "customer", link=open_invoice),
                TableColumn("plan", "plan"),
                TableColumn("total", "total", "money"),
                TableColumn("cost", "cost", "money"),
                TableColumn("margin", "margin", "money"),
                TableColumn("margin_pct", "margin %", "num"),
                TableColumn("unpriced_events", "unpriced events", "int"),
            ],
            run.summary_rows(),
            highlight=lambda r: r["margin"] is not None and r["margin"] < 0,
            highlight_note="Highlighted: invoices below their ledger cost.",
        )
    )
    sections = [Section(f"Billing {month.label}", blocks, wide=True)]
    invoice = next((i for i in run.invoices if i.customer_id == chosen), None)
    if invoice is not None:
        body = invoice.as_dict()
        margin = "unknown" if invoice.margin is None else f"{invoice.margin_pct}%"
        sections.append(
            Section(
                f"Invoice {invoice.customer_id}",
                [
                    Table(
                        "invoice-lines",
                        f"{invoice.customer_id}, plan {invoice.plan_version}: total ${invoice.total}, "
                        f"margin {margin}",
                        _line_columns(ctx),
                        body["lines"],
                        note="Prices used: plan "
                        + invoice.plan_version
                        + "; ledger prices "
                        + (", ".join(sorted(invoice.price_refs)) or "as reported"),
                    )
                ],
                wide=True,
            )
        )
    return Page("Billing", sections)


def billing_line_page(ctx: PageContext) -> Page | None:
    if ctx.viewer.tenant_id is not None:
        return None
    if ctx.plans is None:
        return Page("Invoice line", [Section("Invoice line", [Notice("info", NO_PLANS)])])
    line = ctx.path_params["line_id"]
    try:
        body = line_rows(ctx.store, ctx.plans, line, LINE_ROWS)
    except (InvoiceError, ValueError) as exc:
        return Page("Invoice line", [Section("Invoice line", [Notice("warning", str(exc))])])

    def run_link(row: Row) -> str | None:
        return ctx.link(f"/runs/{segment(row['run_id'])}") if row.get("run_id") else None

    columns = [
        TableColumn("id", "id"),
        TableColumn("run_id", "run", link=run_link),
        TableColumn("occurred_at", "at"),
        TableColumn("detail", "model / workflow / outcome"),
        TableColumn("quantity", "quantity", "num"),
    ]
    if body["rows"] and "cost" in body["rows"][0]:
        columns.append(TableColumn("cost", "cost", "money"))
    full = len(body["rows"]) < LINE_ROWS
    note = "" if full else f"First {LINE_ROWS} rows; costtrail invoice lines {line} lists all."
    return Page(
        f"Invoice line {line}",
        [
            Section(
                f"{line} ({body['metric']}, plan {body['plan']})",
                [Table("line-rows", "Behind this line", columns, body["rows"], note=note)],
                wide=True,
            )
        ],
    )
