"""How commands print: a Rich table for people, JSON or CSV for machines."""

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

from costtrail.reports.money import format_pct, format_ratio, format_usd


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
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


def money(value: Decimal | None) -> str:
    """Dollars as every view prints them (costtrail.reports.money)."""
    return format_usd(value)


def print_rows(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    *,
    title: str | None = None,
    console: Console | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    console = console or Console()
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.json:
        print(to_json([{c: r.get(c) for c in cols} for r in rows]))
        return
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_json_default(r.get(c)) if r.get(c) is not None else "" for c in cols])
        print(buf.getvalue(), end="")
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c, justify="right" if rows and _numeric(rows[0].get(c)) else "left")
    for r in rows:
        table.add_row(*(fmt_cell(r.get(c), c) for c in cols))
    console.print(table)


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)
