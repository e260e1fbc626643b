"""``costtrail credits``: customers' prepaid balances, which the gateway spends at the plan's price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from costtrail.billing.credits import Credits, CreditsError

credits_app = typer.Typer(help="Prepaid credit per customer, enforced by the gateway.", no_args_is_help=True)
FILE = typer.Option(Path("credits.yaml"), "--file", envvar="COSTTRAIL_CREDITS", help="the credits file")


def register(app: typer.Typer) -> None:
    credits_app.command("set")(set_command)
    credits_app.command("show")(show_command)
    app.add_typer(credits_app, name="credits")


def set_command(
    customer: str = typer.Argument(..., help="the customer_id the balance is for"),
    balance: str = typer.Argument(..., help="prepaid balance in USD at the plan's price, e.g. 100.00"),
    file: Path = FILE,
) -> None:
    """Set a customer's prepaid balance from now on (usage before now no longer counts against it).

    Example: costtrail credits set acme 100.00 --file credits.yaml
    """
    try:
        amount = Decimal(balance)
        updated = Credits.load(file).with_balance(customer, amount, datetime.now(UTC))
    except InvalidOperation:
        raise typer.BadParameter(f"{balance!r} is not an amount", param_hint="BALANCE") from None
    except CreditsError as exc:
        raise typer.BadParameter(str(exc), param_hint="BALANCE") from None
    updated.save(file)
    typer.echo(f"{customer}: ${amount} of prepaid credit from now ({file})")


def show_command(file: Path = FILE) -> None:
    """List every customer's prepaid balance and since when it counts.

    Example: costtrail credits show --file credits.yaml
    """
    try:
        credits = Credits.load(file)
    except CreditsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--file") from None
    for customer, credit in sorted(credits.credits.items()):
        typer.echo(f"{customer}\t${credit.balance_usd}\tsince {credit.since().isoformat()}")
