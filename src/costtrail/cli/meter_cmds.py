"""``costtrail meters export``: the ledger's usage to Stripe, OpenMeter or Lago, each record sent once."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

import typer

from costtrail.billing.meters import (
    FileSink,
    MeterError,
    MeterSink,
    SentLog,
    export_records,
    meter_records,
    parse_meters,
)
from costtrail.cli.finance_cmds import LEDGER, _period, _run
from costtrail.cli.output import Format, print_rows

meters_app = typer.Typer(
    help="Meter exports to billing systems (Stripe, OpenMeter, Lago).", no_args_is_help=True
)


class MeterTarget(StrEnum):
    stripe = "stripe"
    openmeter = "openmeter"
    lago = "lago"


def register(app: typer.Typer) -> None:
    meters_app.command("export")(export_command)
    app.add_typer(meters_app, name="meters")


def _sink(target: MeterTarget, url: str | None, key_env: str | None) -> MeterSink:
    from costtrail.export.meters import API_KEY_ENV, SINKS

    env = key_env or API_KEY_ENV[target.value]
    key = os.environ.get(env, "")
    if not key and target is not MeterTarget.openmeter:
        raise typer.BadParameter(
            f"set {env} to the {target.value} API key (or name another variable)", param_hint="--api-key-env"
        )
    return SINKS[target.value](key, url)


def export_command(
    target: MeterTarget = typer.Argument(..., help="stripe, openmeter or lago"),
    period: str = typer.Option(..., "--period", help="a month (2026-11) or days (2026-11-01..2026-11-15)"),
    meter: list[str] = typer.Option(
        [], "--meter", help="METRIC[=EVENT_NAME], repeatable: output_tokens=llm_output_tokens, calls, cost"
    ),
    customer: str | None = typer.Option(None, "--customer", help="only this customer's usage"),
    url: str | None = typer.Option(None, "--url", help="the service's base URL (default: its public API)"),
    api_key_env: str | None = typer.Option(
        None,
        "--api-key-env",
        help="variable holding the API key (default STRIPE_API_KEY, OPENMETER_API_KEY, LAGO_API_KEY)",
    ),
    state: Path | None = typer.Option(
        None,
        "--state",
        help="the ids already sent (default: <ledger>.meters-<target>.sent beside a ledger file)",
    ),
    dry_run: Path | None = typer.Option(
        None, "--dry-run", help="write the records to this file (JSON lines), send nothing"
    ),
    batch: int = typer.Option(
        100, "--batch", min=1, max=1000, help="records per request (Stripe sends one per request)"
    ),
    ledger: str = LEDGER,
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """Send each ledger event's usage as meter events; a re-run sends nothing twice, a failed one resumes.

    Example: costtrail meters export stripe --period 2026-11 --meter output_tokens=llm_output_tokens
    """
    p = _period(period)
    try:
        meters = parse_meters(meter)
    except MeterError as exc:
        raise typer.BadParameter(str(exc), param_hint="--meter") from None
    sink: MeterSink = FileSink(dry_run) if dry_run else _sink(target, url, api_key_env)
    if state is None and "://" in ledger and not ledger.startswith("duckdb://"):
        raise typer.BadParameter(
            "give --state FILE for a ledger that is not a local file", param_hint="--state"
        )
    default_state = Path(ledger.removeprefix("duckdb://") + f".meters-{target.value}.sent")
    log = None if dry_run else SentLog(state or default_state)
    result = _run(
        ledger, lambda store: export_records(meter_records(store, p, meters, customer), sink, log, batch)
    )
    print_rows(
        [result.as_dict()],
        fmt,
        title=f"meters -> {target.value}" + (f" (dry run: {dry_run})" if dry_run else ""),
    )
