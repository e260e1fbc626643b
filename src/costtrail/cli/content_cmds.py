"""``costtrail purge-content``: delete stored prompt/completion text, keep the costs."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from costtrail.cli.output import Format, print_rows


def register(app: typer.Typer) -> None:
    app.command("purge-content")(purge_content_cmd)


def purge_content_cmd(
    ledger: str = typer.Option(
        "costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path (a DuckDB file)"
    ),
    before: str | None = typer.Option(
        None, "--before", help="only text of calls started before this ISO 8601 date/time (UTC)"
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """Delete the prompt and completion text kept by content storage (the content table).

    Events, costs and attribution stay; only the text goes.
    Example: costtrail purge-content --ledger costtrail.duckdb --before 2026-10-01
    """
    from costtrail.ledger import open_store
    from costtrail.ledger.content import purge_content
    from costtrail.ledger.store import LedgerError

    cutoff = None
    if before:
        try:
            cutoff = datetime.fromisoformat(before)
        except ValueError:
            raise typer.BadParameter(f"{before!r} is not an ISO 8601 date", param_hint="--before") from None
        cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    try:
        store = open_store(ledger)
    except LedgerError as exc:
        typer.echo(f"costtrail purge-content: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        deleted = purge_content(store, cutoff)
    except LedgerError as exc:
        typer.echo(f"costtrail purge-content: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    print_rows([{"ledger": ledger, "before": before or "(all)", "deleted": deleted}], fmt)
