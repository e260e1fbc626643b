"""Pricing commands: ``prices`` (what a model costs) and ``reprice`` (re-price stored history)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from costtrail.cli.output import Format, print_rows, to_json
from costtrail.ledger import open_store
from costtrail.pricing import Pricer, RateCard, RateCardError
from costtrail.pricing.reprice import reprice as reprice_history
from costtrail.pricing.sheet import PriceSheetError, price_sheet
from costtrail.reports.money import format_usd


def register(app: typer.Typer) -> None:
    app.command("prices")(prices)
    app.command("reprice")(reprice_command)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD or an ISO 8601 time", param_hint=option
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _usd(value: Decimal | None) -> str:
    return format_usd(value, exact=True)  # a unit price, every digit


def _pricer(rate_card: Path | None) -> Pricer:
    if rate_card is None:
        return Pricer()
    try:
        return Pricer(rate_card=RateCard.load(rate_card))
    except RateCardError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc


_RATE_CARD = typer.Option(
    None,
    "--rate-card",
    envvar="COSTTRAIL_RATE_CARD",
    help="YAML rate card with your prices (see docs/pricing.md)",
)


def prices(
    model: str = typer.Argument(..., help="model name as the provider returns it, e.g. gpt-4o-mini"),
    provider: str | None = typer.Option(
        None, "--provider", help="provider id, e.g. openai, anthropic, google"
    ),
    at: str | None = typer.Option(
        None, "--at", help="date or time the prices should be in force (default now)"
    ),
    tier: str | None = typer.Option(None, "--tier", help="service tier: batch, priority, flex, ..."),
    rate_card: Path | None = _RATE_CARD,
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """Show the per-unit prices in force for a model (genai-prices data plus your rate card).

    Example: costtrail prices gpt-4o --provider openai --at 2025-01-15 --tier batch
    """
    try:
        sheet = price_sheet(
            _pricer(rate_card), model, provider=provider, at=_when(at, "--at"), service_tier=tier
        )
    except PriceSheetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if fmt is Format.json:
        print(to_json(sheet.as_dict()))
        if sheet.reason:
            raise typer.Exit(code=1)
        return
    if sheet.reason:
        typer.echo(f"unpriced: {sheet.reason}", err=True)
        raise typer.Exit(code=1)
    named = f"{sheet.provider}/{model}" if sheet.provider else model
    tier_note = f", tier {tier}" if tier else ""
    title = f"{named}{tier_note} at {sheet.at:%Y-%m-%d %H:%M} UTC: {sheet.price_ref}"
    rows = sheet.rows
    if fmt is Format.table:  # exact prices: the table's money format would round to cents
        rows = [{**r, "usd": _usd(r["usd"]), "list_usd": _usd(r["list_usd"])} for r in rows]
    print_rows(rows, fmt, title=title, columns=["unit", "price_key", "usd", "per", "list_usd", "tiers"])


def reprice_command(
    since: str | None = typer.Option(None, "--since", help="first day (UTC) to re-price, e.g. 2025-01-01"),
    until: str | None = typer.Option(None, "--until", help="re-price events before this day (UTC)"),
    rate_card: Path | None = _RATE_CARD,
    ledger: str = typer.Option(
        "costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path"
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """Re-price stored events with today's price data and rate card, and say what changed.

    Example: costtrail reprice --since 2025-01-01 --rate-card rates.yaml
    """
    pricer = _pricer(rate_card)
    store = open_store(ledger)
    console = Console(stderr=True)
    try:
        with Progress(
            TextColumn("repricing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=fmt is not Format.table,
        ) as bar:
            task = bar.add_task("reprice", total=None)

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = reprice_history(
                store, pricer, since=_when(since, "--since"), until=_when(until, "--until"), progress=step
            )
    finally:
        store.close()
    data = summary.as_dict()
    if fmt is Format.table:
        rows = [
            {"": k.replace("_", " "), "value": _usd(v) if k.endswith("usd") else v} for k, v in data.items()
        ]
        print_rows(rows, fmt, title="reprice")
    elif fmt is Format.json:
        print(to_json(data))
    else:
        print_rows([data], fmt)
