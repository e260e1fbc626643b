"""Finance commands: import bills, allocate shared cost, reconcile, export FOCUS, revenue, unit economics."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import typer

from costtrail.allocation import AllocationRuleError, allocate, load_rules
from costtrail.cli.output import Format, plural, print_rows, to_json
from costtrail.cli.reading import API_KEY, ENDPOINT, ask, fail, read_from
from costtrail.export.focus_export import SOURCES, export_focus, unpriced_usage
from costtrail.finance.period import Period, PeriodError
from costtrail.finance.revenue import RevenueFormatError, import_revenue
from costtrail.finance.targets import DEFAULT_DRIFT, TargetsError, UnitTargets
from costtrail.importers import IMPORT_KINDS, ImportFormatError, MappingError, import_file
from costtrail.ledger import open_store
from costtrail.ledger.store import LedgerError, LedgerStore
from costtrail.reconcile import Tolerance, reconcile, true_up
from costtrail.reports.money import format_usd

T = TypeVar("T")
LEDGER = typer.Option("costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path")
PERIOD = typer.Option(..., "--period", help="a month (2026-10) or days (2026-10-01..2026-10-15)")
FORMAT = typer.Option(Format.table, "--format", help="table, json or csv")
_ERRORS = (
    ImportFormatError,
    MappingError,
    AllocationRuleError,
    PeriodError,
    RevenueFormatError,
    LedgerError,
    ValueError,
    OSError,
)

export_app = typer.Typer(help="Export the ledger in standard formats.", no_args_is_help=True)
revenue_app = typer.Typer(help="Revenue per customer or tenant (for margin).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.command("allocate")(allocate_command)
    app.command("reconcile")(reconcile_command)
    app.command("unit-cost")(unit_cost_command)
    app.command("cost-to-serve")(cost_to_serve_command)
    app.command("margins")(margins_command)
    export_app.command("focus")(export_focus_command)
    revenue_app.command("import")(revenue_import_command)
    app.add_typer(export_app, name="export")
    app.add_typer(revenue_app, name="revenue")


def _run(ledger: str, work: Callable[[LedgerStore], T]) -> T:
    """Open the ledger, run, close; turn input errors into a one-line message and exit code 2."""
    try:
        store = open_store(ledger)
    except LedgerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        return work(store)
    except _ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None


def _decimal(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint=name) from None


def import_command(
    kind: str = typer.Argument(..., help=f"one of: {', '.join(IMPORT_KINDS)}"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the export or invoice file"),
    mapping: Path | None = typer.Option(None, "--mapping", exists=True, help="column mapping (kind csv)"),
    ledger: str = LEDGER,
    fmt: Format = FORMAT,
) -> None:
    """Import a bill as cost lines; re-importing the same file stores nothing new.

    Example: costtrail import openai-costs costs.json  |  costtrail import csv invoice.csv --mapping vdb.yaml
    """
    result = _run(ledger, lambda store: import_file(kind, file, store, mapping=mapping))
    if fmt is Format.table:
        typer.echo(
            f"{result.file}: {result.rows} rows, {result.accepted} new lines, {result.duplicates} already "
            f"imported, {result.skipped} skipped, billed ${result.billed_cost}"
        )
    else:
        print_rows([result.as_dict()], fmt)


def allocate_command(
    period: str = PERIOD,
    rules: Path = typer.Option(
        Path("allocation.yaml"), "--rules", exists=True, help="allocation rules (YAML)"
    ),
    ledger: str = LEDGER,
    fmt: Format = FORMAT,
) -> None:
    """Split shared cost pools by the rules; re-running replaces the period's allocations.

    Example: costtrail allocate --period 2026-10 --rules allocation.yaml
    """
    p = _period(period)
    run = _run(ledger, lambda store: allocate(store, load_rules(rules), p))
    print_rows([o.as_dict() for o in run.outcomes], fmt, title=f"allocation {p.label}")


def reconcile_command(
    period: str = PERIOD,
    do_true_up: bool = typer.Option(False, "--true-up", help="store billed - computed beside computed cost"),
    tolerance: str = typer.Option("1.0", "--tolerance", help="percent within which billed matches computed"),
    lines: bool = typer.Option(False, "--lines", help="print every day group, not only the findings"),
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Compare provider bills with telemetry per day x provider x model x account.

    Example: costtrail reconcile --period 2026-10 --format json
    """
    p = _period(period)
    tol = Tolerance(pct=_decimal(tolerance, "--tolerance") or Decimal(1))

    def work(store: LedgerStore) -> dict[str, Any]:
        rec = reconcile(store, p, tol)
        true_up(store, rec)
        return {
            "summary": rec.summary(),
            "findings": [f.as_dict() for f in rec.findings],
            "lines": [ln.as_dict() for ln in rec.lines],
        }

    if do_true_up:  # writes: where the ledger is
        if endpoint:
            fail("--true-up writes to the ledger: run it where the ledger is (without --endpoint)")
        out = _run(ledger, work)
    else:
        with read_from(ledger, endpoint, api_key) as reader:
            out = ask(reader, "reconcile", period=period, tolerance=tol.pct)
    if fmt is Format.json:
        print(to_json(out))
        return
    s = out["summary"]
    if fmt is Format.table:
        typer.echo(
            f"period {s['period']}: billed {format_usd(s['billed'])}, computed {format_usd(s['computed'])}, "
            f"variance {format_usd(s['variance'])} "
            f"({s['variance_pct']}%), bill coverage {s['coverage_pct']}%, "
            f"telemetry coverage {s['telemetry_coverage_pct']}%"
        )
        for u in s["untracked_spend"]:
            account = f"account {u['provider_account']}" if u["provider_account"] else "no account"
            typer.echo(
                f"untracked spend: {u['provider']} {account}: {format_usd(u['billed'])} billed over "
                f"{plural(u['days'], 'day')} with no telemetry ({', '.join(u['models'])})"
            )
    print_rows(out["lines"] if lines else out["findings"], fmt, title="reconciliation")


def export_focus_command(
    period: str = PERIOD,
    output: Path = typer.Option(Path("focus.csv"), "--output", "-o", help="file to write"),
    file_format: str = typer.Option("csv", "--format", help="csv or parquet"),
    sources: str = typer.Option(",".join(SOURCES), "--sources", help="comma-separated x_CostSource values"),
    spec: str = typer.Option(
        "1.2", "--spec", help="FOCUS version: 1.2 or 1.3 (allocation, provider columns)"
    ),
    ledger: str = LEDGER,
) -> None:
    """Export telemetry, bills and allocations for a period as a FOCUS 1.2 (or --spec 1.3) file.

    Example: costtrail export focus --period 2026-10 --format parquet -o focus-2026-10.parquet
    """
    from costtrail.export.focus13 import export_focus13

    p = _period(period)
    if spec not in ("1.2", "1.3"):
        raise typer.BadParameter(f"{spec!r}: use 1.2 or 1.3", param_hint="--spec")
    chosen = [s.strip() for s in sources.split(",") if s.strip()]
    write = export_focus13 if spec == "1.3" else export_focus
    rows, unpriced = _run(
        ledger,
        lambda store: (
            write(store, p, output, file_format, chosen),
            unpriced_usage(store, p) if "telemetry" in chosen else 0,
        ),
    )
    typer.echo(f"wrote {rows} FOCUS {spec} rows to {output}")
    if unpriced:
        typer.echo(
            f"left out {unpriced} unpriced events: no price matched, and a FOCUS cost cannot be unknown "
            "(never written as $0; see `costtrail report --by model` for which)",
            err=True,
        )


def revenue_import_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV: customer_id|tenant_id,period,revenue"
    ),
    ledger: str = LEDGER,
) -> None:
    """Import revenue per customer or tenant and period; re-importing replaces, never doubles.

    Example: costtrail revenue import revenue-2026-10.csv
    """
    result = _run(ledger, lambda store: import_revenue(file, store))
    typer.echo(f"stored {result.accepted} revenue lines")


def unit_cost_command(
    outcome: str = typer.Argument(..., help="outcome name, e.g. ticket_resolved"),
    period: str = PERIOD,
    target: str | None = typer.Option(None, "--target", help="target cost per outcome in USD"),
    drift_factor: str | None = typer.Option(None, "--drift-factor", help="flag above target x this (1.25)"),
    config: Path | None = typer.Option(
        None, "--config", exists=True, help="units file (as serve --targets): {units: {NAME: {...}}}"
    ),
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Cost per outcome (direct + allocated), with the trailing week and a drift flag.

    Example: costtrail unit-cost ticket_resolved --period 2026-10 --target 0.40
    """
    p = _period(period)
    unit = None
    if config is not None:
        try:
            unit = UnitTargets.load(config).get(outcome)
        except TargetsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    goal = _decimal(target, "--target") or (unit.target_usd if unit else None)
    factor = _decimal(drift_factor, "--drift-factor") or (unit.drift_factor if unit else DEFAULT_DRIFT)
    with read_from(ledger, endpoint, api_key) as reader:
        result = ask(reader, "unit-cost", outcome=outcome, period=p.label, target=goal, drift_factor=factor)
    print_rows([result], fmt, title=f"cost per {outcome}")


def cost_to_serve_command(
    period: str = PERIOD,
    by: str = typer.Option("customer", "--by", help="customer, tenant, plan_tier, feature or workflow"),
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Cost-to-serve (direct + allocated) and gross margin per customer, tenant, plan tier, ...

    Example: costtrail cost-to-serve --period 2026-10 --by plan_tier
    """
    p = _period(period)
    with read_from(ledger, endpoint, api_key) as reader:
        rows = ask(reader, "cost-to-serve", period=p.label, by=by)
    print_rows(rows, fmt, title=f"cost-to-serve by {by}")


def margins_command(
    period: str = PERIOD,
    threshold: str = typer.Option("0", "--threshold", help="margin percent below which a customer dilutes"),
    by: str = typer.Option("customer", "--by", help="customer or tenant"),
    limit: int = typer.Option(20, "--limit", help="rows to show"),
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Margin-dilutive customers: margin below the threshold, most dollars lost first.

    Example: costtrail margins --period 2026-10 --threshold 60
    """
    p = _period(period)
    pct = _decimal(threshold, "--threshold") or Decimal(0)
    with read_from(ledger, endpoint, api_key) as reader:
        rows = ask(reader, "margins", period=p.label, by=by, threshold=pct)
    print_rows(rows[:limit], fmt, title=f"margin below {pct}%")
