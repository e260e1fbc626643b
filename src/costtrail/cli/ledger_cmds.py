"""Ledger commands: ``ingest``."""

from __future__ import annotations

from pathlib import Path

import typer

from costtrail.cli.output import Format, to_json
from costtrail.ingest import ingest_file
from costtrail.ledger import open_store
from costtrail.pricing import Pricer


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON array, NDJSON or CSV of events"),
    ledger: str = typer.Option(
        "costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path"
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table or json"),
) -> None:
    """Load events from a file into the ledger, pricing each one; re-loading a file stores nothing twice.

    Example: costtrail ingest events.ndjson --ledger costtrail.duckdb
    """
    store = open_store(ledger)
    try:
        result = ingest_file(file, store, Pricer())
    finally:
        store.close()
    if fmt is Format.json:
        print(to_json(result.as_dict()))
        return
    typer.echo(
        f"accepted {result.accepted}, duplicates {result.duplicates}, rejected {len(result.problems)}"
        + (f", unpriced {result.unpriced}" if result.unpriced else "")
    )
    for p in result.problems[:20]:
        typer.echo(f"  record {p.index}: {p.field}: {p.reason}", err=True)
    if result.problems:
        raise typer.Exit(code=1)
