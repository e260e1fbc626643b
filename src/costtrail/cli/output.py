"""How commands print: a Rich table (or Markdown) for people, JSON or CSV for machines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

from costtrail.export.csv_cells import csv_cell
from costtrail.reports.money import format_pct, format_ratio, format_usd, money_json


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money_json(value)  # a plain decimal, never 1.6E-7 or 0E-12
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def to_json(data: Any) -> str:
    return json.dumps(data, default=_json_default, indent=2)


# Decimal columns that are not money. Percent columns hold a value in percent (-39.2), ratio
# columns a 0..1 share (0.952): both read with a %. Plain ones (multipliers, quantities) read as numbers.
_PERCENT_SUFFIXES = ("_pct", "_percent")
_RATIO_SUFFIXES = (
    "success_rate",
    "retry_rate",
    "failure_rate",
    "error_rate",
    "pass_rate",
    "hit_rate",
    "_share",
)
_PLAIN_SUFFIXES = ("_ratio", "ratio", "_quantity", "_tokens", "score", "factor")


def fmt_cell(value: Any, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal | float) and column.endswith(_PERCENT_SUFFIXES):
        return format_pct(value)
    if isinstance(value, Decimal | float) and column.endswith(_RATIO_SUFFIXES):
        return format_ratio(value)
    if isinstance(value, Decimal) and column.endswith(_PLAIN_SUFFIXES):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"
    if isinstance(value, Decimal):
        return format_usd(value)
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def plural(count: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def money(value: Decimal | None) -> str:
    """Dollars as every view prints them (costtrail.reports.money)."""
    return format_usd(value)


# Short table headers for people (JSON, CSV and --columns keep the full names).
HEADERS = {
    "total_cost": "cost",
    "avg_cost_per_run": "per run",
    "cost_per_successful_run": "per success",
    "successful_runs": "ok runs",
    "success_rate": "success",
    "avg_latency_ms": "avg ms",
    "p95_latency_ms": "p95 ms",
    "latency_ms": "ms",
    "retry_rate": "retry",
    "retry_count": "retry",
    "failure_rate": "failed",
    "unpriced_events": "unpriced",
    "model_calls": "calls",
    "total_input_tokens": "in tok",
    "total_output_tokens": "out tok",
    "total_cache_read_tokens": "cached tok",
    "input_tokens": "in tok",
    "output_tokens": "out tok",
    "avg_input_tokens": "avg in",
    "avg_output_tokens": "avg out",
    "avg_cost_per_event": "per call",
    "workflows_touched": "workflows",
    "customer_id": "customer",
    "tenant_id": "tenant",
    "tool_name": "tool",
    "run_id": "run",
    "succeeded": "ok",
    "started_at": "started",
    "cumulative_cost": "so far",
    "cost_usd": "cost",
    "provider_account": "account",
}


def header(column: str) -> str:
    return HEADERS.get(column, column.replace("_", " "))


def print_rows(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    *,
    title: str | None = None,
    console: Console | None = None,
    columns: Sequence[str] | None = None,
    chosen: Sequence[str] | None = None,
    keep: int = 1,
) -> None:
    """Rows as a table, JSON, CSV or Markdown.

    ``columns`` are all the columns in order; ``chosen`` (a command's ``--columns``) picks some. A
    table shows as many of ``columns`` as fit the terminal (80 when piped), the first ``keep`` always,
    and says which it left out; a cell is never cut: identifiers stay whole.
    """
    console = console or Console()
    cols = list(columns or (rows[0].keys() if rows else []))
    if chosen:
        cols = pick_columns(cols, chosen)
    if fmt is Format.json:
        print(to_json([{c: r.get(c) for c in cols} for r in rows]))
        return
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(cols)
        for r in rows:
            writer.writerow(
                [csv_cell(str(_json_default(r.get(c)))) if r.get(c) is not None else "" for c in cols]
            )
        print(buf.getvalue(), end="")
        return
    cells = [[fmt_cell(r.get(c), c) for c in cols] for r in rows]
    if fmt is Format.markdown:
        print(markdown_table(cols, cells, title))
        return
    shown = list(range(len(cols))) if chosen else fitting(cols, cells, console.width, keep)
    table = Table(title=title, show_lines=False, header_style="bold")
    for i in shown:
        right = any(
            _numeric(r.get(cols[i])) or _numeric_text(row[i]) for r, row in zip(rows, cells, strict=True)
        )
        table.add_column(
            header(cols[i]),
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=not _wraps(cells, i),
        )
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    console.print(table)
    left_out = [cols[i] for i in range(len(cols)) if i not in shown]
    if left_out:
        console.print(f"not shown: {', '.join(left_out)} (--columns to choose, or --format csv)", style="dim")


def pick_columns(columns: Sequence[str], chosen: Sequence[str]) -> list[str]:
    """``--columns a,b`` (or ``all``) among ``columns``; an unknown name is an error naming the choices."""
    if list(chosen) == ["all"]:
        return list(columns)
    unknown = [c for c in chosen if c not in columns]
    if unknown:
        raise ValueError(
            f"--columns: no column {', '.join(unknown)}; choose from {', '.join(columns)} or all"
        )
    return list(chosen)


def _wraps(cells: Sequence[Sequence[str]], i: int) -> bool:
    """A column whose cells have spaces (times, messages) may wrap; one of single words never does."""
    return any(" " in row[i] for row in cells)


def _width(name: str, cells: Sequence[Sequence[str]], i: int) -> int:
    """The narrowest the column can be with every cell whole (a word never broken)."""
    texts = [header(name), *(row[i] for row in cells)]
    if _wraps(cells, i):
        return max(len(word) for text in texts for word in text.split() or [""])
    return max(len(text) for text in texts)


def fitting(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int, keep: int) -> list[int]:
    """The columns, in order, that fit ``width`` with every cell whole (the first ``keep`` always)."""
    used = 1  # the table's left border; each column adds its padding (2) and its right border (1)
    shown: list[int] = []
    for i, name in enumerate(columns):
        need = _width(name, cells, i) + 3
        if i < keep or used + need <= width:
            shown.append(i)
            used += need
    return shown


def markdown_table(columns: Sequence[str], cells: Sequence[Sequence[str]], title: str | None = None) -> str:
    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    out = [f"**{title}**", ""] if title else []
    out += [line(columns), "|" + "|".join("---" for _ in columns) + "|", *(line(row) for row in cells)]
    return "\n".join(out)


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def _numeric_text(text: str) -> bool:
    return text.startswith(("$", "-$")) or (text.endswith("%") and text[:1] in "-0123456789")
