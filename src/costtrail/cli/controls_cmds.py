"""Controls and optimization commands: budgets, alerts, guard, whatif, cheapest, audit, drift, forecast.

Plus ``evals import``. Each is a thin wrapper over costtrail.controls or costtrail.optimize.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from costtrail.cli.output import Format, plural, print_rows, to_json
from costtrail.cli.reading import API_KEY, ENDPOINT, ask, fail, read_from
from costtrail.cli.report_cmds import LEDGER_HELP, parse_window
from costtrail.controls.chain import build_alerts
from costtrail.controls.config import ControlsConfig, ControlsConfigError
from costtrail.controls.guardrails import run_guardrails
from costtrail.ledger import LedgerError, LedgerStore, open_store
from costtrail.optimize.evals import import_evals, parse_eval_file
from costtrail.reports.money import format_usd

LEDGER = typer.Option("costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help=LEDGER_HELP)
CONFIG = typer.Option(
    "controls.yaml",
    "--config",
    envvar="COSTTRAIL_CONTROLS",
    help="controls file (budgets, guardrails, alerts)",
)
FORMAT = typer.Option(Format.table, "--format", help="table, json or csv")
SINCE = typer.Option(None, "--since", help="from (2026-03-01, 7d, 12h)")
UNTIL = typer.Option(None, "--until", help="until, exclusive")


def register(app: typer.Typer) -> None:
    app.command("budgets")(budgets_command)
    app.command("alerts")(alerts_command)
    app.command("guard")(guard_command)
    app.command("whatif")(whatif_command)
    app.command("cheapest")(cheapest_command)
    app.command("audit")(audit_command)
    app.command("drift")(drift_command)
    app.command("forecast")(forecast_command)
    evals = typer.Typer(help="Eval results: import them for costtrail cheapest and costtrail audit.")
    evals.command("import")(evals_import_command)
    app.add_typer(evals, name="evals")


def load_config(path: Path) -> ControlsConfig:
    if not path.exists():
        fail(f"no controls file at {path}: write one (see docs/controls.md) or pass --config FILE")
    try:
        return ControlsConfig.load(path)
    except ControlsConfigError as exc:
        fail(str(exc))


@contextmanager
def writing(ledger: str) -> Iterator[LedgerStore]:
    try:
        store = open_store(ledger)
    except LedgerError as exc:
        fail(str(exc))
    try:
        yield store
    finally:
        store.close()


def _config_args(path: Path) -> dict[str, Any]:
    """The controls file as a question's arguments (read here: a collector has no access to it)."""
    if not path.exists():
        fail(f"no controls file at {path}: write one (see docs/controls.md) or pass --config FILE")
    return {"config": path.read_text(), "config_name": str(path)}


def _emit(data: Any, rows: list[dict[str, Any]], fmt: Format, title: str) -> None:
    if fmt is Format.json:
        print(to_json(data))
    else:
        print_rows(rows, fmt, title=title)


def budgets_command(
    config: Path = CONFIG,
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Each budget with its spend, remaining, burn rate and projected exhaustion time.

    Example: costtrail budgets --config controls.yaml --ledger costtrail.duckdb
    """
    with read_from(ledger, endpoint, api_key) as reader:
        rows = ask(reader, "budgets", **_config_args(config))
    _emit(rows, rows, fmt, "Budgets")


def alerts_command(
    since: str | None = typer.Option("7d", "--since", help="from (2026-03-01, 7d, 12h)"),
    kind: str | None = typer.Option(None, "--kind", help="only this kind, e.g. retry_loop"),
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Alerts raised (budgets, cost spikes, retry loops, pacing, tenants, model policy), newest first.

    Example: costtrail alerts --since 24h --kind retry_loop
    """
    parse_window(since, None)
    with read_from(ledger, endpoint, api_key) as reader:
        rows = ask(reader, "alerts", since=since, kind=kind)
    if fmt is Format.json:
        print(to_json(rows))
        return
    print_rows(rows, fmt, title="Alerts", columns=["raised_at", "kind", "severity", "message"])


def guard_command(config: Path = CONFIG, ledger: str = LEDGER, fmt: Format = FORMAT) -> None:
    """Run every guardrail over the ledger now and send new alerts (log, webhooks, alerts table).

    Run it on a schedule (cron, every few minutes); alerts repeat only after their cooldown.
    Example: costtrail guard --config controls.yaml
    """
    cfg = load_config(config)
    with writing(ledger) as store:
        dispatcher = build_alerts(cfg, store)
        try:
            found = run_guardrails(store, cfg, datetime.now(UTC), dispatcher=dispatcher)
        finally:
            dispatcher.close()
    sent_keys = {a.key for a in dispatcher.sent}
    rows = [
        {"kind": a.kind, "severity": a.severity, "sent": a.key in sent_keys, "message": a.message}
        for a in found
    ]
    held = len(found) - len(sent_keys)
    title = f"Guardrails: {plural(len(found), 'alert')} found, {len(sent_keys)} sent"
    _emit(
        [a.as_dict() for a in found],
        rows,
        fmt,
        title + (f", {held} held back by the cooldown" if held else ""),
    )


def whatif_command(
    workflow: str = typer.Option(..., "--workflow", help="the workflow whose traffic is re-priced"),
    model: str = typer.Option(..., "--model", help="the model to price it on"),
    provider: str | None = typer.Option(
        None, "--provider", help="the new model's provider (openai, anthropic...)"
    ),
    token_ratio: float = typer.Option(1.0, "--token-ratio", help="new tokens / current tokens (1.0 = same)"),
    since: str | None = SINCE,
    until: str | None = UNTIL,
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Re-price a workflow's real traffic on another model: cost per run, per success and per month.

    Example: costtrail whatif --workflow support_reply --model claude-haiku-4-5 --token-ratio 1.1
    """
    parse_window(since, until)
    with read_from(ledger, endpoint, api_key) as reader:
        answer = ask(reader, "whatif", workflow=workflow, model=model, provider=provider,
                     token_ratio=token_ratio, since=since, until=until)  # fmt: skip
    _emit(answer["data"], answer["rows"], fmt, f"{workflow} on {model}")


def cheapest_command(
    workflow: str = typer.Option(..., "--workflow", help="the workflow"),
    min_pass_rate: float | None = typer.Option(None, "--min-pass-rate", help="the bar, 0..1 (e.g. 0.9)"),
    min_score: float | None = typer.Option(None, "--min-score", help="or a bar on the eval score"),
    eval_set: str | None = typer.Option(None, "--eval-set", help="only results on this eval set"),
    since: str | None = SINCE,
    until: str | None = UNTIL,
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """The cheapest model that clears the eval bar, priced on real production traffic; monthly saving.

    Example: costtrail cheapest --workflow support_reply --min-pass-rate 0.9
    """
    parse_window(since, until)
    with read_from(ledger, endpoint, api_key) as reader:
        answer = ask(reader, "cheapest", workflow=workflow, min_pass_rate=min_pass_rate, min_score=min_score,
                     eval_set=eval_set, since=since, until=until)  # fmt: skip
    _emit(answer["data"], answer["rows"], fmt, f"{workflow}: {answer['bar']}")
    if fmt is Format.table:
        if answer["chosen_model"] is None:
            typer.echo(f"no model with a price clears {answer['bar']}")
        else:
            typer.echo(
                f"cheapest that clears {answer['bar']}: {answer['chosen_model']} "
                f"(saves {format_usd(answer['monthly_saving'])}/month "
                f"vs {', '.join(answer['current_models'])})"
            )


def audit_command(
    workflow: str = typer.Option(..., "--workflow", help="the workflow"),
    sample: int = typer.Option(100, "--sample", min=1, help="production calls to sample"),
    factor: float = typer.Option(
        1.5, "--factor", help="flag production/eval above this or below its inverse"
    ),
    model: str | None = typer.Option(None, "--model", help="audit this model (default: the most used one)"),
    eval_set: str | None = typer.Option(None, "--eval-set", help="compare with this eval set"),
    since: str | None = SINCE,
    until: str | None = UNTIL,
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Compare sampled production calls with the eval set: which dimension drifted.

    Example: costtrail audit --workflow support_reply --sample 100 --since 7d
    """
    parse_window(since, until)
    with read_from(ledger, endpoint, api_key) as reader:
        answer = ask(reader, "audit", workflow=workflow, sample=sample, factor=factor, model=model,
                     eval_set=eval_set, since=since, until=until)  # fmt: skip
    title = f"{workflow} on {answer['model']}: production vs {answer['eval_set']}"
    _emit(answer["data"], answer["rows"], fmt, title)
    if fmt is Format.table:
        drifted = answer["drifted"]
        typer.echo(f"drifted: {', '.join(drifted)}" if drifted else "no drift beyond the factor")


def drift_command(
    workflow: str | None = typer.Option(None, "--workflow", help="the workflow (default: all traffic)"),
    by: str = typer.Option("day", "--by", help="day or week"),
    since: str | None = SINCE,
    until: str | None = UNTIL,
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Cost and tokens per call and per run over time, with change-points and the week-over-week trend.

    Example: costtrail drift --workflow support_reply --since 30d
    """
    parse_window(since, until)
    with read_from(ledger, endpoint, api_key) as reader:
        result = ask(reader, "drift", workflow=workflow, by=by, since=since, until=until)
    _emit(result, result["series"], fmt, f"Drift ({by})")
    if fmt is Format.table:
        if result["change_points"]:
            print_rows(result["change_points"], fmt, title="Change-points")
        wow = result["week_over_week_cost_per_call_pct"]
        if wow is not None:
            typer.echo(f"cost per call, last 7 days vs the 7 before: {wow:+.1f}%")


def forecast_command(
    config: Path | None = typer.Option(
        None, "--config", envvar="COSTTRAIL_CONTROLS", help="add each budget's scope"
    ),
    ledger: str = LEDGER,
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
    fmt: Format = FORMAT,
) -> None:
    """Month-end spend forecast (month to date + recent daily run rate), in total and per budget scope.

    Example: costtrail forecast --config controls.yaml
    """
    args = _config_args(config) if config is not None and config.exists() else {}
    with read_from(ledger, endpoint, api_key) as reader:
        rows = ask(reader, "forecast", **args)
    _emit(rows, rows, fmt, "Month-end forecast")


def evals_import_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV, JSON array or NDJSON of eval results"
    ),
    ledger: str = LEDGER,
    fmt: Format = FORMAT,
) -> None:
    """Import eval results (workflow, model, eval_set, pass_rate or score, eval_date, avg tokens per call).

    Example: costtrail evals import evals.csv
    """
    try:
        good, problems = parse_eval_file(file)
    except (ValueError, OSError) as exc:
        fail(f"{file}: {exc}")
    with writing(ledger) as store:
        accepted, duplicates = import_evals(store, good)
    result = {"accepted": accepted, "duplicates": duplicates, "rejected": [p.as_dict() for p in problems]}
    if fmt is Format.json:
        print(to_json(result))
    else:
        typer.echo(f"accepted {accepted}, duplicates {duplicates}, rejected {len(problems)}")
        for p in problems[:20]:
            typer.echo(f"  record {p.index}: {p.field}: {p.reason}", err=True)
    if problems:
        raise typer.Exit(code=1)
