"""Ledger commands: ``ingest``."""

from __future__ import annotations

from pathlib import Path

import typer

from costtrail.cli.output import Format, to_json
from costtrail.ingest import IngestResult, ingest_file
from costtrail.ledger import open_store
from costtrail.pricing import Pricer, RateCard, RateCardError


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON array, NDJSON or CSV of events"),
    ledger: str = typer.Option(
        "costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path"
    ),
    rate_card: Path | None = typer.Option(
        None, "--rate-card", envvar="COSTTRAIL_RATE_CARD", help="YAML rate card (adds or overrides prices)"
    ),
    fmt: Format = typer.Option(
        Format.table, "--format", help="table or json (exit code 1 on rejects either way)"
    ),
) -> None:
    """Load events from a file into the ledger, pricing each one; re-loading a file stores nothing twice.

    Example: costtrail ingest events.ndjson --ledger costtrail.duckdb --rate-card rates.yaml
    """
    try:
        pricer = Pricer(rate_card=RateCard.load(rate_card) if rate_card else None)
    except RateCardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    store = open_store(ledger)
    try:
        result = ingest_file(file, store, pricer)
    finally:
        store.close()
    if fmt is Format.json:
        print(to_json(result.as_dict()))
    else:
        _print_result(result)
    if result.problems:  # whatever the format: a script sees rejected records by the exit code
        raise typer.Exit(code=1)


def _print_result(result: IngestResult) -> None:
    typer.echo(
        f"accepted {result.accepted}, duplicates {result.duplicates}, rejected {len(result.problems)}"
        + (f", unpriced {result.unpriced}" if result.unpriced else "")
    )
    for p in result.problems[:20]:
        typer.echo(f"  record {p.index}: {p.field}: {p.reason}", err=True)
