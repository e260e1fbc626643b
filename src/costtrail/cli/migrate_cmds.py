"""Store commands: ``migrate`` (copy a ledger between stores), ``ledger-ddl`` (ClickHouse cluster DDL)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from costtrail.cli.output import Format, print_rows
from costtrail.ledger import LedgerError, open_store
from costtrail.ledger.migrate import copy_ledger, total_rows
from costtrail.ledger.migrations import cluster_ddl


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("ledger-ddl")(ledger_ddl)


def migrate(
    source: str = typer.Option(..., "--from", help="ledger URL to copy from, e.g. duckdb://costtrail.duckdb"),
    dest: str = typer.Option(..., "--to", help="ledger URL to copy to, e.g. clickhouse://u:p@host:8123/db"),
    batch_rows: int = typer.Option(100_000, "--batch-rows", min=1_000, help="rows per insert batch"),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """Copy events, outcomes and cost lines from one ledger to another, day by day, then verify.

    Resumable: run it again after an interruption and days already complete are
    skipped (nothing is stored twice). Each day is verified by row count and cost sum.

    Example: costtrail migrate --from duckdb://costtrail.duckdb --to clickhouse://default:pw@db1:8123/costtrail
    """
    try:
        src = open_store(source, read_only=True)
        dst = open_store(dest)
    except LedgerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    console = Console(stderr=True)
    try:
        totals = total_rows(src)
        with Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=fmt is not Format.table,
        ) as bar:
            tasks = {t: bar.add_task(t, total=n) for t, n in totals.items()}
            reports = copy_ledger(
                src, dst, batch_rows=batch_rows, progress=lambda t, n: bar.advance(tasks[t], n)
            )
    finally:
        src.close()
        dst.close()
    rows = [r.as_dict() for r in reports]
    for r in rows:
        r["mismatched_days"] = ", ".join(r["mismatched_days"]) or None
    print_rows(rows, fmt, title=f"{source} -> {dst.url}")
    if any(r["verified"] is False for r in rows):
        typer.echo("verification failed: the days listed differ in row count or cost sum", err=True)
        raise typer.Exit(code=1)


def ledger_ddl(
    cluster: str = typer.Option(..., "--cluster", help="the ClickHouse cluster name (remote_servers)"),
    database: str = typer.Option("costtrail", "--database", help="database to create the tables in"),
    ttl_days: int | None = typer.Option(
        None, "--ttl-days", min=1, help="drop events/outcomes older than N days"
    ),
) -> None:
    """Print the ClickHouse cluster schema: Replicated tables plus Distributed tables sharded by tenant.

    The store applies the same statements itself when opened with ?cluster=NAME;
    this prints them for review or for your own migration tooling.

    Example: costtrail ledger-ddl --cluster prod --database costtrail --ttl-days 395
    """
    print(cluster_ddl(database, cluster, ttl_days=ttl_days), end="")
