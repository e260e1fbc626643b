"""``costtrail prune-events``: retention for a DuckDB ledger (ClickHouse keeps events by TTL)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from costtrail.cli.output import Format, print_rows


def register(app: typer.Typer) -> None:
    app.command("prune-events")(prune_events_cmd)


def prune_events_cmd(
    before: str = typer.Option(
        ..., "--before", help="delete events that started before this ISO 8601 date/time (UTC)"
    ),
    ledger: str = typer.Option(
        "costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path (a DuckDB file)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="count what would be deleted, delete nothing"),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """Delete old events from a DuckDB ledger; outcomes and cost lines (invoices) stay.

    The run index of every run that loses events is rebuilt in the same transaction, so run
    counts stay exact. A ClickHouse ledger keeps events by TTL instead (?ttl_days=N in its URL).
    Example: costtrail prune-events --before 2026-01-01 --ledger costtrail.duckdb --dry-run
    """
    from costtrail.ledger import open_store
    from costtrail.ledger.store import LedgerError

    try:
        cutoff = datetime.fromisoformat(before)
    except ValueError:
        raise typer.BadParameter(
            f"{before!r} is not an ISO 8601 date, e.g. 2026-01-01", param_hint="--before"
        ) from None
    naive = (cutoff.astimezone(UTC) if cutoff.tzinfo else cutoff).replace(tzinfo=None)
    try:
        store = open_store(ledger)
    except LedgerError as exc:
        typer.echo(f"costtrail prune-events: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        if not store.capabilities.deletes_events:
            typer.echo(
                "costtrail prune-events: this ledger is not a DuckDB file. A ClickHouse ledger drops old "
                "events by TTL: add ?ttl_days=N to its URL, or call store.set_retention(N).",
                err=True,
            )
            raise typer.Exit(2)
        where = f"started_at < {store.dialect.literal(naive)}"
        if dry_run:
            found = int(store.query(f"SELECT count(*) AS n FROM events WHERE {where}")[0]["n"])
        else:
            found = store.delete_events(where)
            store.checkpoint()  # give the space back
    finally:
        store.close()
    print_rows(
        [{"ledger": ledger, "before": naive.isoformat(sep=" "), "events": found, "deleted": not dry_run}], fmt
    )
