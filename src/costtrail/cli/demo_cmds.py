"""``costtrail demo``: simulate a product for N days through the real SDK, then print the headline report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from costtrail.cli.billing_cmds import line_cells
from costtrail.cli.demo_output import print_controls_demo
from costtrail.cli.output import Format, money, print_rows, to_json
from costtrail.cli.reading import fail
from costtrail.cli.report_cmds import display_rows, unpriced_text
from costtrail.demo.controls_demo import MIN_CONTROLS_DAYS, ControlsDemo, add_controls_demo
from costtrail.ledger import LedgerError, open_store
from costtrail.reports import ReportResult
from costtrail.reports.money import format_usd


def demo_file(ledger: Path | str, what: str) -> Path:
    """A file the demo writes beside its ledger, named after it (``costtrail.duckdb`` ->
    ``costtrail-demo-controls.yaml``), so two demos in one folder keep their own files."""
    ledger = Path(ledger)
    return ledger.with_name(f"{ledger.stem}-demo-{what}.yaml")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ledger: str = typer.Option("costtrail.duckdb", "--ledger", help="DuckDB ledger file to write"),
    fresh: bool = typer.Option(False, "--fresh", help="delete the ledger file first"),
    days: int = typer.Option(30, "--days", min=1, max=366, help="days of traffic to simulate, ending today"),
    seed: int = typer.Option(7, "--seed", help="random seed (same seed, same traffic)"),
    runs_per_day: float = typer.Option(30.0, "--runs-per-day", min=0.1, help="workflow runs on a weekday"),
    concurrency: int = typer.Option(128, "--concurrency", min=1, help="runs in flight at once"),
    latency_scale: float = typer.Option(
        0.2, "--latency-scale", min=0.0, help="fake provider latency (1.0 = typical provider latency)"
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table or json (the headline report)"),
) -> None:
    """Simulate 30 days of an AI help desk (support replies, document extraction, onboarding) through
    the real SDK and the official openai/anthropic clients against a local fake provider, then print
    cost by workflow, cost per successful completion, top customers, model mix and the unpriced line.

    Example: costtrail demo --ledger costtrail.duckdb --fresh --days 30 --seed 7
    """
    from costtrail.demo.headline import headline
    from costtrail.demo.simulation import DemoConfig, run_demo

    if "://" in ledger and not ledger.startswith("duckdb://"):
        fail("the demo writes a local DuckDB file: pass --ledger PATH")
    path = Path(ledger.removeprefix("duckdb://"))
    if fresh:
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
    try:  # fail now, not after the simulation, when another process holds the ledger
        open_store(str(path)).close()
    except LedgerError as exc:
        fail(str(exc))
    config = DemoConfig(
        ledger=str(path),
        days=days,
        runs_per_day=runs_per_day,
        seed=seed,
        concurrency=concurrency,
        latency_scale=latency_scale,
    )
    console = Console(stderr=fmt is Format.json)
    with Progress(
        TextColumn("[bold]simulating {task.fields[days]} days"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("demo", total=None, days=days)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_demo(config, on_progress)
    controls_file = str(demo_file(path, "controls"))
    controls = _controls_demo(path, Path(controls_file)) if days >= MIN_CONTROLS_DAYS else None
    finance = _finance_demo(path)
    try:
        store = open_store(str(path), read_only=True)
    except LedgerError as exc:
        fail(str(exc))
    try:
        head = headline(store)
    finally:
        store.close()
    summary = {
        "ledger": str(path),
        "runs": result.runs,
        "model_calls_over_http": result.model_calls,
        "failed_calls": result.failed_calls,
        "recorded_events": result.recorded,
        "outcomes": result.outcomes,
        "elapsed_s": round(result.elapsed_s, 1),
        "sdk": result.sdk_stats,
    }
    if fmt is Format.json:
        print(
            to_json(
                {
                    "simulation": summary,
                    **_json_head(head),
                    "controls": _json_controls(controls) if controls else None,
                    "finance": finance,
                }
            )
        )
        return
    _print_head(console, head, summary)
    if controls is not None:
        print_controls_demo(console, controls, controls_file, str(path))
    else:
        console.print(f"(budgets, alerts and evals are added with --days {MIN_CONTROLS_DAYS} or more)")
    _print_finance(console, finance)


def _finance_demo(path: Path) -> dict[str, Any]:
    """Bills, shared invoices, allocation and revenue over the simulated days, then the report;
    and the cost-per-outcome targets file the dashboard compares against."""
    from costtrail.demo.billing_demo import DEMO_PLANS, demo_billing
    from costtrail.demo.finance_demo import add_finance_demo, finance_demo_report, ledger_period
    from costtrail.demo.targets_demo import demo_targets_yaml

    store = open_store(str(path))
    try:
        period = ledger_period(store)
        added = add_finance_demo(store, period)
        demo_file(path, "targets").write_text(demo_targets_yaml(store, period))
        demo_file(path, "plans").write_text(DEMO_PLANS)
        billing = {**demo_billing(store, period), "plans_file": str(demo_file(path, "plans"))}
        return {**finance_demo_report(store, period), "added": added, "billing": billing}
    finally:
        store.close()


def _print_finance(console: Console, finance: dict[str, Any]) -> None:
    rec = finance["reconciliation"]
    console.print(
        f"\n[bold]Reconciliation {rec['period']}[/bold]: billed {format_usd(rec['billed'])}, "
        f"computed {format_usd(rec['computed'])}, variance {rec['variance_pct']}%, "
        f"bill coverage {rec['coverage_pct']}%"
    )
    columns = ["flag", "provider", "provider_account", "model", "days", "variance", "ratio"]
    findings = [
        {**f, "ratio": f"{f['ratio']:.3f}x" if f["ratio"] is not None else None} for f in finance["findings"]
    ]
    print_rows(findings, Format.table, title="bill vs telemetry", console=console, columns=columns)
    columns = ["key", "plan_tier", "cost_to_serve", "revenue", "gross_margin", "margin_pct"]
    rows = finance["least_profitable_customers"]
    print_rows(rows, Format.table, title="five least profitable customers", console=console, columns=columns)
    _print_billing(console, finance["billing"], Path(finance["billing"]["plans_file"]))


def _print_billing(console: Console, billing: dict[str, Any], plans: Path) -> None:
    invoice = billing["invoice"]
    console.print(
        f"\n[bold]Billing {billing['period']}[/bold]: {billing['invoices']} customers invoiced on the demo "
        f"plans, total {money(billing['total'])}"
    )
    if invoice is None:
        return
    rows = [{k: v for k, v in line_cells(line).items() if k != "line_id"} for line in invoice["lines"]]
    title = f"invoice {invoice['customer_id']} (plan {invoice['plan_version']})"
    print_rows(rows, Format.table, title=title, console=console)
    margin = (
        "unknown" if invoice["margin"] is None else f"{money(invoice['margin'])} ({invoice['margin_pct']}%)"
    )
    console.print(f"total {money(invoice['total'])}, cost {money(invoice['cost'])}, margin {margin}")
    console.print(
        f"Lines behind it: costtrail invoice lines {invoice['lines'][0]['line_id']} --plans {plans}"
    )


def _controls_demo(path: Path, controls_file: Path) -> ControlsDemo:
    """Budgets (one trips), a retry loop, a tenant anomaly and eval results on the simulated ledger."""
    try:
        store = open_store(str(path))
    except LedgerError as exc:
        fail(str(exc))
    try:
        return add_controls_demo(store, controls_path=controls_file)
    finally:
        store.close()


def _json_controls(controls: ControlsDemo) -> dict[str, Any]:
    return {
        "budgets": controls.budgets,
        "blocked_calls": controls.blocked_calls,
        "alerts": controls.alert_rows(),
        "cheapest": controls.cheapest,
    }


def _json_head(head: dict[str, Any]) -> dict[str, Any]:
    return {
        "totals": head["totals"],
        "workflows": head["workflows"].as_dict()["rows"],
        "customers": head["customers"].as_dict()["rows"],
        "models": head["models"].as_dict()["rows"],
        "unpriced": head["unpriced"].as_dict(),
    }


def _table(console: Console, result: ReportResult, title: str) -> None:
    print_rows(display_rows(result), Format.table, title=title, columns=result.columns, console=console)


def _print_head(console: Console, head: dict[str, Any], summary: dict[str, Any]) -> None:
    totals = head["totals"]
    console.print(
        f"\nSimulated {summary['runs']:,} runs, "
        f"{summary['model_calls_over_http']:,} model calls over HTTP "
        f"({summary['failed_calls']} failed after retries), {summary['recorded_events']:,} retrieval/tool "
        f"events, {summary['outcomes']:,} outcomes in {summary['elapsed_s']} s -> {summary['ledger']}"
    )
    if totals.get("first_seen"):
        # what the tables below count: the simulation plus the controls and finance demos' runs
        console.print(
            f"[bold]Ledger: {totals['runs']:,} runs[/bold], {totals['events']:,} events, "
            f"{totals['customers']} customers, "
            f"{totals['first_seen']:%Y-%m-%d} .. {totals['last_seen']:%Y-%m-%d}, "
            f"total {format_usd(totals['total_cost'])}\n"
        )
    _table(
        console,
        head["workflows"],
        "Cost by workflow (cost per successful completion = cost / successful runs)",
    )
    _table(console, head["customers"], "Top customers by cost (prod)")
    _table(console, head["models"], "Model mix")
    unpriced = head["unpriced"]
    console.print(unpriced_text(unpriced), style="yellow" if unpriced.events else "dim")
    console.print(
        f"\nNext: costtrail report --by step --ledger {summary['ledger']}   "
        f"costtrail runs --top 10 --ledger {summary['ledger']}"
    )
    from costtrail.web.sessions import demo_link

    controls = demo_file(summary["ledger"], "controls")
    targets = demo_file(summary["ledger"], "targets")
    console.print(
        f"Dashboard: costtrail serve --demo --ledger {summary['ledger']} --controls {controls} "
        f"--targets {targets} --plans {demo_file(summary['ledger'], 'plans')}   "
        f"then open {demo_link('http://127.0.0.1:8787')}",
        soft_wrap=True,
    )
