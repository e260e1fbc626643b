"""``costtrail serve``: the collector (HTTP ingest, OTLP, read API) over one ledger."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import typer

from costtrail.auth import DEMO_KEY, KeyRing
from costtrail.billing import PlanError, load_plans
from costtrail.collector import Limits
from costtrail.collector.server import ServeOptions, is_loopback
from costtrail.collector.server import serve as serve_collector
from costtrail.finance.targets import TargetsError, load_targets
from costtrail.ledger import open_store
from costtrail.ledger.store import LedgerError
from costtrail.settings import Settings
from costtrail.web.sessions import demo_link


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def default_workers() -> int:
    """One worker process beside the owner when there is a second core to run it on."""
    return 1 if (os.cpu_count() or 1) >= 2 else 0


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (127.0.0.1: this machine only)"),
    port: int = typer.Option(8787, "--port", help="port to listen on"),
    ledger: str = typer.Option(
        "costtrail.duckdb",
        "--ledger",
        envvar="COSTTRAIL_LEDGER",
        help="ledger URL or path (this process owns it)",
    ),
    keys_file: Path | None = typer.Option(
        None, "--keys", help="API keys file (default: <ledger>.keys.json beside a DuckDB file)"
    ),
    rate_card: Path | None = typer.Option(None, "--rate-card", help="YAML rate card with your own prices"),
    demo: bool = typer.Option(
        False, "--demo", help=f"also accept the local demo key {DEMO_KEY} (only on a loopback address)"
    ),
    max_body_mb: int = typer.Option(16, "--max-body-mb", help="largest request body accepted (413 above)"),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=0,
        help="processes that parse, validate and price event batches beside the ledger's owner "
        "(0: all in one process; default: 1 on a machine with 2 or more cores, else 0); a DuckDB "
        "ledger then gets the other cores for its own threads",
    ),
    id_memory_hours: float = typer.Option(
        24.0,
        "--id-memory-hours",
        min=0,
        help="how long an event id is remembered whatever started_at a re-send carries (0: only "
        "re-sends with their original started_at are recognized)",
    ),
    no_migrate: bool = typer.Option(
        False,
        "--no-migrate",
        help="do not create or alter tables: a ClickHouse schema applied beforehand (costtrail ledger-ddl) "
        "is required, and one that is behind stops the start naming what is missing",
    ),
    controls: Path | None = typer.Option(
        None, "--controls", envvar="COSTTRAIL_CONTROLS", help="controls file: the dashboard shows its budgets"
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto are trusted "
        "(the client address for sign-in throttling, https for the cookie); default: none, every "
        "request is taken from its own peer",
    ),
    targets: Path | None = typer.Option(
        None,
        "--targets",
        envvar="COSTTRAIL_TARGETS",
        help='cost-per-outcome targets (units: {ticket_resolved: {target_usd: "0.40"}}) for the dashboard',
    ),
    plans: Path | None = typer.Option(
        None,
        "--plans",
        envvar="COSTTRAIL_PLANS",
        help="price plans (YAML): invoices in the read API (/v1/invoices) and the dashboard's Billing page",
    ),
) -> None:
    """Run the collector: ingest events, outcomes, cost lines and OTLP traces; serve the read API.

    Example: costtrail serve --ledger costtrail.duckdb --port 8787
    Then:    costtrail keys create --scope ingest --ledger costtrail.duckdb
    Targets: costtrail serve --ledger costtrail.duckdb --targets units.yaml
    Billing: costtrail serve --ledger costtrail.duckdb --plans plans.yaml
    Cores:   costtrail serve --ledger costtrail.duckdb --workers 2
    Proxy:   costtrail serve --ledger costtrail.duckdb --forwarded-allow-ips 127.0.0.1
    Cluster: costtrail serve --ledger 'clickhouse://ingest@ch:8123/costtrail?cluster=prod' --no-migrate
    """
    if demo and not is_loopback(host):
        raise typer.BadParameter(
            "--demo is only allowed on a loopback address (127.0.0.1)", param_hint="--demo"
        )
    settings = Settings.from_env(ledger=ledger, rate_card=rate_card, targets=targets, plans=plans)
    try:  # a bad targets or plans file stops here, naming the line and field, before the ledger is opened
        load_targets(settings.targets)
        load_plans(settings.plans)
    except (TargetsError, PlanError) as exc:
        typer.echo(f"costtrail serve: {exc}", err=True)
        raise typer.Exit(2) from None
    keys = KeyRing.for_ledger(settings.ledger, keys_file=keys_file, demo=demo)
    try:
        store = open_store(
            settings.ledger, id_memory=timedelta(hours=id_memory_hours), migrate=not no_migrate
        )
    except LedgerError as exc:
        typer.echo(f"costtrail serve: {exc}", err=True)
        raise typer.Exit(1) from None
    limits = Limits(max_body_bytes=max_body_mb * 1024 * 1024, max_decoded_bytes=4 * max_body_mb * 1024 * 1024)
    typer.echo(f"costtrail collector on http://{host}:{port} (ledger {store.url}, keys {keys.path})")
    if demo:
        typer.echo(f"DEMO MODE: the local demo key {DEMO_KEY} is accepted (admin scope). Not for production.")
        typer.echo(f"Dashboard: {demo_link(f'http://{host}:{port}')}")
    elif not keys.has_keys():
        typer.echo("no API keys yet: create one with  costtrail keys create --scope ingest", err=True)
    if not demo:
        typer.echo(f"Dashboard: http://{host}:{port}/ (sign in with a read key)")
    options = ServeOptions(
        host=host,
        port=port,
        keys=keys,
        limits=limits,
        workers=default_workers() if workers is None else workers,
        controls_file=controls,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    serve_collector(settings, store, options)
