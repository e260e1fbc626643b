"""Report commands: ``report`` and ``runs`` (thin wrappers over costtrail.reports)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import typer
from rich.console import Console

from costtrail.cli.output import Format, money, pick_columns, plural, print_rows, to_json
from costtrail.cli.reading import API_KEY, ENDPOINT, ask, fail, read_from
from costtrail.reports import (
    FilterValue,
    ReportError,
    ReportResult,
    UnpricedLine,
    parse_time,
    view_names,
)
from costtrail.reports.money import format_ratio, format_usd

LEDGER_HELP = "ledger URL or path (duckdb file, clickhouse://..., chdb://...)"


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("runs")(runs_command)


def parse_where(items: list[str]) -> dict[str, FilterValue]:
    """``k=v`` pairs into report filters; a repeated key matches any of its values, ``k=`` a missing value."""
    filters: dict[str, list[str | None]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--where takes dimension=value (e.g. --where customer_id=acme), got {item!r}")
        filters.setdefault(key.strip(), []).append(value.strip() or None)
    out: dict[str, FilterValue] = {}
    for key, values in filters.items():
        out[key] = values[0] if len(values) == 1 else values
    return out


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    try:
        return (parse_time(since) if since else None, parse_time(until) if until else None)
    except ReportError as exc:
        fail(str(exc))


def unpriced_text(line: UnpricedLine) -> str:
    """The unpriced line and, beside it, the incomplete line (calls whose usage is unknown)."""
    return _unpriced_only(line) + "\n" + incomplete_text(line)


def incomplete_text(line: UnpricedLine) -> str:
    if not line.incomplete:
        return "Incomplete: none (every call's usage is known)"
    return (
        f"Incomplete: {plural(line.incomplete, 'call')} with unknown usage (cut, abandoned or unreadable), "
        f"estimated {format_usd(line.incomplete_estimate_usd)}, not in the totals"
    )


def unpriced_line_of(answer: dict[str, Any]) -> UnpricedLine:
    """The unpriced and incomplete lines of a report or run answer (its JSON shape)."""
    incomplete = answer.get("incomplete") or {"events": 0, "estimate_usd": "0"}
    return UnpricedLine(
        answer["unpriced"]["events"],
        tuple(answer["unpriced"]["models"]),
        incomplete=incomplete["events"],
        incomplete_estimate_usd=Decimal(incomplete["estimate_usd"]),
    )


def _unpriced_only(line: UnpricedLine) -> str:
    if not line.events:
        return "Unpriced: none (every event has a price)"
    models = ", ".join(
        f"{m['provider'] or '?'}/{m['model'] or m['kind']} x{m['events']}" for m in line.models
    )
    return f"Unpriced: {plural(line.events, 'event')} with no price, not in the totals ({models})"


def usd(value: Decimal) -> str:
    """Dollars by the one rule of costtrail.reports.money."""
    return format_usd(value)


def display_rows(result: ReportResult) -> list[dict[str, Any]]:
    """Rows for people: ratios as percentages, money to the cent."""
    rows = []
    for r in result:
        shown = dict(r)
        for name, unit in result.units.items():
            value = r.get(name)
            if unit == "ratio" and value is not None:
                shown[name] = format_ratio(value)
            elif unit == "usd" and value is not None:
                shown[name] = usd(value)
            elif unit == "usd" and _unpriced_group(r):
                shown[name] = "unpriced"  # nothing in the group has a price: not $0
        rows.append(shown)
    return rows


def _unpriced_group(row: dict[str, Any]) -> bool:
    return ("total_cost" in row and row["total_cost"] is None) or bool(row.get("unpriced_events"))


def run_total(detail: dict[str, Any]) -> str:
    """A run's total for people: ``unpriced`` when nothing is priced, the unpriced count beside a cost."""
    if detail["total_cost"] is None:
        return "unpriced"
    unpriced = detail.get("unpriced_events") or 0
    return money(detail["total_cost"]) + (f" (+{unpriced} unpriced)" if unpriced else "")


def emit(
    result: ReportResult,
    fmt: Format,
    title: str,
    console: Console | None = None,
    *,
    columns: str | None = None,
    order: Sequence[str] | None = None,
) -> None:
    """A report for people (table, Markdown: money and ratios formatted) or machines (JSON, CSV).

    ``columns`` is the ``--columns`` option (names, comma-separated, or ``all``); ``order`` puts
    those columns first in a table, so the ones that matter most are the last to be left out.
    """
    chosen = _chosen(result.columns, columns)
    if fmt is Format.json:
        data = result.as_dict()
        if chosen:
            data["rows"] = [{c: r.get(c) for c in chosen} for r in data["rows"]]
        print(to_json(data))
        return
    if fmt is Format.csv:
        print_rows(result, fmt, columns=result.columns, chosen=chosen)
        typer.echo(unpriced_text(result.unpriced), err=True)
        return
    console = console or Console()
    # what a table leaves out when it must: tokens and latency before money and rates
    rank = {"usd": 0, "ratio": 1, "count": 2, "bool": 2, "text": 2, "timestamp": 3, "ms": 4, "tokens": 5}
    metrics = sorted(result.metrics, key=lambda m: rank.get(result.units.get(m, "text"), 2))
    cols = [*[c for c in order or () if c in result.columns], *result.by, *metrics]
    cols = list(dict.fromkeys(cols))
    keep = len(result.by)
    print_rows(
        display_rows(result), fmt, title=title, columns=cols, chosen=chosen, keep=keep, console=console
    )
    if fmt is Format.markdown:
        print(f"\n{unpriced_text(result.unpriced)}")
        return
    console.print(unpriced_text(result.unpriced), style="yellow" if result.unpriced.events else "dim")


def _chosen(available: Sequence[str], columns: str | None) -> list[str] | None:
    if not columns:
        return None
    names = [c.strip() for c in columns.split(",") if c.strip()]
    try:
        return pick_columns(available, names)
    except ValueError as exc:
        fail(str(exc))


COLUMNS_HELP = "columns to show, comma-separated, or all (default: as many as fit the terminal)"


def report_command(
    by: str = typer.Option("workflow", "--by", help=f"a view ({', '.join(view_names())}) or dims a,b"),
    metrics: str | None = typer.Option(None, "--metrics", help="comma-separated metric names"),
    since: str | None = typer.Option(None, "--since", help="from (inclusive): 2026-03-01, 7d, 12h"),
    until: str | None = typer.Option(None, "--until", help="to (exclusive): 2026-04-01, 1d"),
    where: list[str] = typer.Option([], "--where", help="filter dimension=value (repeatable)"),
    failed: bool = typer.Option(False, "--failed", help="show spend of failed runs per group"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="at most this many rows"),
    bands: str | None = typer.Option(None, "--bands", help="payload-band edges, e.g. 1024,10240,102400"),
    band_on: str = typer.Option("payload_bytes", "--band-on", help="payload_bytes or input_tokens"),
    columns: str | None = typer.Option(None, "--columns", help=COLUMNS_HELP),
    as_priced_on: str | None = typer.Option(
        None, "--as-priced-on", help="each event at the price it had at the end of this UTC day (YYYY-MM-DD)"
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json, csv or markdown"),
    ledger: str = typer.Option("costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help=LEDGER_HELP),
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
) -> None:
    """Roll costs up by workflow, agent, model, tool, step, payload band, feature, customer, tenant,
    environment or day, with the unpriced line under every report.

    Example: costtrail report --by workflow --since 7d --where environment=prod --format json
    """
    parse_window(since, until)  # a bad time is a usage error before anything is read
    dims = [d.strip() for d in by.split(",") if d.strip()]
    args: dict[str, Any] = {"by": dims, "metrics": metrics, "where": parse_where(where), "since": since,
                            "until": until, "failed": failed, "limit": limit, "bands": bands,
                            "band_on": band_on, "as_priced_on": as_priced_on}  # fmt: skip
    with read_from(ledger, endpoint, api_key) as reader:
        answer = ask(reader, "report", **args)
    emit(as_result(answer), fmt, answer["title"], columns=columns)


def as_result(answer: dict[str, Any]) -> ReportResult:
    """A report answer (JSON shape plus units) as a :class:`ReportResult` again."""
    line = unpriced_line_of(answer)
    return ReportResult(
        answer["rows"], by=answer["by"], metrics=answer["metrics"], unpriced=line, units=answer["units"]
    )


def runs_command(
    run_id: str | None = typer.Argument(None, help="show this run's steps in order"),
    top: int = typer.Option(10, "--top", min=1, help="how many of the most expensive runs"),
    since: str | None = typer.Option(None, "--since", help="from (inclusive): 2026-03-01, 7d"),
    until: str | None = typer.Option(None, "--until", help="to (exclusive)"),
    where: list[str] = typer.Option([], "--where", help="filter dimension=value (repeatable)"),
    columns: str | None = typer.Option(None, "--columns", help=COLUMNS_HELP),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json, csv or markdown"),
    ledger: str = typer.Option("costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help=LEDGER_HELP),
    endpoint: str | None = ENDPOINT,
    api_key: str | None = API_KEY,
) -> None:
    """The most expensive runs, or one run's steps in order with their costs.

    Examples: costtrail runs --top 20 --where workflow=support_reply
              costtrail runs 0b7c9e4d1f2a
    """
    filters = parse_where(where)
    parse_window(since, until)
    with read_from(ledger, endpoint, api_key) as reader:
        if run_id is None:
            answer = ask(reader, "runs", top=top, where=filters, since=since, until=until)
            emit(as_result(answer), fmt, answer["title"], columns=columns, order=_RUN_ORDER)
            return
        detail = ask(reader, "run", not_found=1, run_id=run_id)
    _emit_run(detail, fmt, columns)


# a run list leads with what tells runs apart: id, cost, workflow, outcome
_RUN_ORDER = ("run_id", "total_cost", "workflow", "succeeded", "customer_id", "started_at")

_STEP_COLUMNS = (
    "started_at",
    "step",
    "agent",
    "kind",
    "model",
    "tool_name",
    "status",
    "retry_count",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "cost_usd",
    "cumulative_cost",
)


def _emit_run(detail: dict[str, Any], fmt: Format, columns: str | None = None) -> None:
    chosen = _chosen(_STEP_COLUMNS, columns)
    if fmt is Format.json:
        print(to_json(detail))
        return
    if fmt is Format.csv:
        print_rows(detail["steps"], fmt, columns=_STEP_COLUMNS, chosen=chosen)
        return
    console = Console()
    state = "succeeded" if detail["succeeded"] else "did not succeed"
    console.print(
        f"[bold]Run {detail['run_id']}[/bold]  workflow={detail['workflow']}  "
        f"customer={detail['customer_id']}  total={run_total(detail)}  {state}"
    )
    for o in detail["outcomes"]:
        console.print(f"  outcome: {o['outcome']} success={o['success']} value={money(o['value_usd'])}")
    steps = [
        {
            **s,
            "cost_usd": "unpriced" if s["unpriced"] else s["cost_usd"],
            "cumulative_cost": "unpriced" if s["cumulative_cost"] is None else s["cumulative_cost"],
        }
        for s in detail["steps"]
    ]
    order = ("started_at", "step", "model", "cost_usd", "cumulative_cost", "status")
    cols = list(dict.fromkeys([*order, *_STEP_COLUMNS]))
    print_rows(steps, fmt, title="Steps in order", columns=cols, chosen=chosen, console=console)
    line = unpriced_line_of(detail)
    console.print(unpriced_text(line), style="yellow" if line.events else "dim")
