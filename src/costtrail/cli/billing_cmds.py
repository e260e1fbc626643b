"""Billing commands: invoice previews from price plans, and the rows behind an invoice line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from costtrail.billing import Invoice, InvoiceRun, PlanError, PricePlans, line_rows, preview
from costtrail.billing.closing import close, compare, load_closed
from costtrail.cli.finance_cmds import LEDGER, _period, _run
from costtrail.cli.output import Format, fmt_cell, money, print_rows, to_json

invoice_app = typer.Typer(
    help="Invoices from price plans: preview a period, list a line's events.", no_args_is_help=True
)
PLANS = typer.Option(
    Path("plans.yaml"), "--plans", envvar="COSTTRAIL_PLANS", help="price plans (YAML, see docs/billing.md)"
)
FORMAT = typer.Option(Format.table, "--format", help="table, json or csv")


CLOSED = typer.Option(
    Path("invoices"), "--closed-dir", envvar="COSTTRAIL_INVOICES", help="where closed invoices are kept"
)


def register(app: typer.Typer) -> None:
    invoice_app.command("close")(close_command)
    invoice_app.command("preview")(preview_command)
    invoice_app.command("lines")(lines_command)
    app.add_typer(invoice_app, name="invoice")


def _plans(path: Path) -> PricePlans:
    try:
        return PricePlans.load(path)
    except PlanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _quantity(value: Decimal) -> str:
    return (
        f"{value:,.0f}" if value == value.to_integral_value() else f"{value.quantize(Decimal('0.000001')):,}"
    )


def _unit_price(line: dict[str, Any]) -> str:
    if line["unit_price"] is None:
        return "tiered"
    if line["metric"] == "cost":
        return f"${line['unit_price'].normalize()} per $1 of cost"
    per = f" / {_quantity(line['per'])}" if line["per"] != 1 else ""
    return f"${line['unit_price']}{per}"


def line_cells(line: dict[str, Any]) -> dict[str, Any]:
    """One invoice line (``InvoiceLine.as_dict()``) as table cells: quantities as numbers, prices per unit."""
    return {
        "line_id": line["line_id"],
        "description": line["description"],
        "quantity": _quantity(line["quantity"]),
        "included": _quantity(line["included"]) if line["included"] else "",
        "unit price": _unit_price(line),
        "amount": line["amount"],
        "cost": line["cost"],
        "margin": line["margin"],
        "unpriced": line["unpriced_events"] or "",
    }


def _print_invoice(invoice: Invoice, console: Console) -> None:
    body = invoice.as_dict()
    title = f"invoice {invoice.customer_id} {invoice.period} (plan {invoice.plan_version}, preview)"
    print_rows([line_cells(line) for line in body["lines"]], Format.table, title=title, console=console)
    pct = "" if invoice.margin_pct is None else f" ({invoice.margin_pct}%)"
    cost = "unpriced" if invoice.cost is None else money(invoice.cost)
    margin = "unknown (cost unpriced)" if invoice.margin is None else f"{money(invoice.margin)}{pct}"
    console.print(f"total {money(invoice.total)}   cost {cost}   margin {margin}")
    refs = ", ".join(f"{r} ({n})" for r, n in sorted(invoice.price_refs.items())) or "reported costs only"
    console.print(f"prices used: plan {invoice.plan_version}; ledger prices {refs}")
    if invoice.unpriced_events:
        console.print(
            f"[yellow]{invoice.unpriced_events} unpriced event(s): not in the cost above; a cost-plus line "
            "does not bill them until they are priced (costtrail reprice)[/yellow]"
        )


def _print_run(run: InvoiceRun, console: Console) -> None:
    print_rows(run.summary_rows(), Format.table, title=f"invoices {run.period} (preview)", console=console)
    console.print(f"{len(run.invoices)} invoices, total {money(run.total)}")
    if run.without_plan:
        console.print(
            f"[yellow]{len(run.without_plan)} customer(s) with usage and no plan (set default_plan): "
            f"{', '.join(run.without_plan[:10])}[/yellow]"
        )


def preview_command(
    period: str = typer.Option(..., "--period", help="a month (2026-11) or days (2026-11-01..2026-11-15)"),
    customer: str | None = typer.Option(
        None, "--customer", help="only this customer's invoice, line by line"
    ),
    plans: Path = PLANS,
    closed_dir: Path = CLOSED,
    ledger: str = LEDGER,
    fmt: Format = FORMAT,
) -> None:
    """Preview the invoices of a period: lines with quantity, unit price, amount, cost and margin.
    A closed period shows the invoices as closed, and what a reprice changed since.

    Example: costtrail invoice preview --period 2026-11 --customer acme --plans plans.yaml
    """
    p, price_plans = _period(period), _plans(plans)
    run = _run(ledger, lambda store: preview(store, price_plans, p, customer))
    closed = load_closed(closed_dir, p.label)
    if closed is not None:
        _print_closed(closed, run, customer, fmt)
        return
    if fmt is Format.json:
        print(to_json(run.as_dict()))
    elif fmt is Format.csv:
        rows = [{"customer_id": i.customer_id, **line.as_dict()} for i in run.invoices for line in i.lines]
        print_rows([{k: v for k, v in r.items() if k != "tiers"} for r in rows], fmt)
    elif customer is not None and run.invoices:
        _print_invoice(run.invoices[0], Console())
    elif customer is not None:
        typer.echo(f"no plan applies to customer {customer!r}: name it in a plan or set default_plan")
    else:
        _print_run(run, Console())


def _print_closed(closed: dict[str, Any], live: InvoiceRun, customer: str | None, fmt: Format) -> None:
    invoices = [i for i in closed["invoices"] if customer is None or i["customer_id"] == customer]
    drift = [d.as_dict() for d in compare({**closed, "invoices": invoices}, live)]
    if fmt is not Format.table:
        print(to_json({**closed, "invoices": invoices, "changed_since_closing": drift}))
        return
    console = Console()
    console.print(f"{closed['period']} was closed at {closed['closed_at']}: the invoices as issued")
    for invoice in invoices:
        rows = [line_cells(line) for line in invoice["lines"]]
        title = (
            f"invoice {invoice['customer_id']} {invoice['period']} (plan {invoice['plan_version']}, closed)"
        )
        print_rows(rows, Format.table, title=title, console=console)
        console.print(f"total {money(invoice['total'])}; prices used: {invoice['prices_used']}")
    if drift:
        console.print(
            f"[yellow]{len(drift)} invoice(s) would differ if previewed now (a reprice or late "
            "events since closing); the closed ones above are what was billed[/yellow]"
        )
        print_rows(drift, Format.table, title="changed since closing", console=console)


def close_command(
    period: str = typer.Option(..., "--period", help="the period to close, e.g. 2026-11"),
    plans: Path = PLANS,
    closed_dir: Path = CLOSED,
    ledger: str = LEDGER,
) -> None:
    """Close a period: freeze its invoices as issued, so a later reprice never changes them.

    Example: costtrail invoice close --period 2026-11 --plans plans.yaml --closed-dir invoices
    """
    p, price_plans = _period(period), _plans(plans)

    def work(store: Any) -> Path:
        return close(preview(store, price_plans, p), closed_dir)

    path = _run(ledger, work)
    typer.echo(f"closed {p.label}: {path}")


def lines_command(
    line_id: str = typer.Argument(..., help="an invoice line id, e.g. 2026-11:acme:output-tokens"),
    plans: Path = PLANS,
    limit: int | None = typer.Option(None, "--limit", min=1, help="at most this many rows"),
    ledger: str = LEDGER,
    fmt: Format = FORMAT,
) -> None:
    """List the events, runs or outcomes behind an invoice line; their quantities sum to the line's.

    Example: costtrail invoice lines 2026-11:acme:output-tokens --plans plans.yaml
    """
    price_plans = _plans(plans)

    body = _run(ledger, lambda store: line_rows(store, price_plans, line_id, limit))
    if fmt is Format.json:
        print(to_json(body))
        return
    print_rows(body["rows"], fmt, title=f"{body['line_id']} ({body['metric']}, plan {body['plan']})")
    if fmt is Format.table:
        total = sum((Decimal(r["quantity"]) for r in body["rows"]), Decimal(0))
        typer.echo(f"{len(body['rows'])} rows, quantity {fmt_cell(total, 'sum_quantity')}")
