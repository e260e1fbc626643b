"""What a page is made of: metric cards, charts, tables and notices.

Page builders return these plain objects; one template draws them all and
every :class:`Table` is also downloadable as CSV with the exact values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from costtrail.export.csv_cells import csv_cell
from costtrail.reports.money import format_ratio, format_usd

Row = Mapping[str, Any]


@dataclass(frozen=True)
class TableColumn:
    """One table column: ``kind`` is text, money, unit (a unit price; both read by costtrail.reports.money),
    int, num, pct (a 0..1 ratio) or ms."""

    key: str
    label: str
    kind: str = "text"
    link: Callable[[Row], str | None] | None = None


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    columns: Sequence[TableColumn]
    rows: Sequence[Row]
    note: str = ""
    highlight: Callable[[Row], bool] | None = None
    highlight_note: str = ""


@dataclass(frozen=True)
class Chart:
    """A Plotly figure drawn in the browser: traces and layout as plain JSON-able dicts."""

    id: str
    title: str
    traces: Sequence[Mapping[str, Any]]
    layout: Mapping[str, Any] = field(default_factory=dict)
    height: int = 320


@dataclass(frozen=True)
class Headline:
    """A headline number; ``change`` is the ratio against the previous period, if any."""

    id: str
    label: str
    value: Any
    kind: str = "money"
    change: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Notice:
    level: str  # info | warning
    text: str
    href: str | None = None


@dataclass(frozen=True)
class Section:
    """A titled group of blocks laid out side by side when there is room."""

    title: str
    blocks: Sequence[Headline | Chart | Table | Notice]
    wide: bool = False


@dataclass(frozen=True)
class Page:
    title: str
    sections: Sequence[Section]
    subtitle: str = ""
    crumbs: Sequence[tuple[str, str]] = ()

    def tables(self) -> dict[str, Table]:
        return {b.id: b for s in self.sections for b in s.blocks if isinstance(b, Table)}

    def charts(self) -> list[Chart]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Chart)]


def display(kind: str, value: Any) -> str:
    """How a value reads on the page (money to the cent, ratios as percents)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind in ("money", "unit"):
        # one rule with the CLI: a cost per outcome of $0.0321 against a $0.0257 target never
        # reads as $0.03 vs $0.03, a non-zero cost never as $0.00
        return format_usd(Decimal(value))
    if kind == "int":
        return f"{int(value):,}"
    if kind == "pct":
        return format_ratio(value)
    if kind == "ms":
        return f"{float(value):,.0f} ms"
    if kind == "num":
        return f"{float(value):,.2f}"
    return str(value)


def raw(value: Any) -> str:
    """The exact value (what CSV downloads and ``data-value`` attributes carry)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_csv(table: Table) -> str:
    """The table as CSV: a header of column keys, then exact values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(raw(row.get(c.key))) for c in table.columns])
    return out.getvalue()


def as_float(value: Any) -> float | None:
    """For chart coordinates only: exact amounts stay Decimal in tables and CSV."""
    return None if value is None else float(value)
