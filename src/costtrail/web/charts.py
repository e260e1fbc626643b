"""Plotly figures built from report rows (plain dicts: the browser draws them).

Amounts are exact Decimals in the rows; charts get floats, tables keep the
exact values. One trace per series, so a test can count what was drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from costtrail.web.blocks import Chart, as_float

Rows = Sequence[Mapping[str, Any]]
PALETTE = (
    "#2f6fed", "#e8590c", "#2b8a3e", "#ae3ec9", "#f08c00", "#1098ad", "#c92a2a", "#5c7cfa",
    "#74b816", "#d6336c", "#495057", "#0ca678",
)  # fmt: skip
MONEY_AXIS = {"tickprefix": "$", "rangemode": "tozero", "gridcolor": "#e4e7eb"}
OTHER = "other"


def _x(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value if value is not None else "(none)"


def _label(value: Any) -> str:
    return "(none)" if value is None else str(value)


def stacked_bars(
    id: str, title: str, rows: Rows, *, x: str, series: str, y: str, top: int = 8, money: bool = True
) -> Chart:
    """Bars over ``x`` stacked by ``series`` (the biggest ``top`` series, the rest as "other")."""
    totals: dict[str, float] = {}
    for row in rows:
        totals[_label(row[series])] = totals.get(_label(row[series]), 0.0) + (as_float(row[y]) or 0.0)
    keep = sorted(totals, key=lambda k: -totals[k])[:top]
    points: dict[str, dict[Any, float]] = {}
    for row in rows:
        name = _label(row[series]) if _label(row[series]) in keep else OTHER
        cell = points.setdefault(name, {})
        cell[_x(row[x])] = cell.get(_x(row[x]), 0.0) + (as_float(row[y]) or 0.0)
    names = [*keep, *([OTHER] if OTHER in points else [])]
    traces = [
        {
            "type": "bar",
            "name": name,
            "x": list(points[name]),
            "y": list(points[name].values()),
            "marker": {"color": PALETTE[i % len(PALETTE)]},
        }
        for i, name in enumerate(names)
    ]
    layout = {"barmode": "stack", "yaxis": MONEY_AXIS if money else {"rangemode": "tozero"}}
    return Chart(id, title, traces, layout)


def lines(id: str, title: str, rows: Rows, *, x: str, ys: Mapping[str, str], money: bool = True) -> Chart:
    """One line per ``ys`` entry (label -> column) over ``x``."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": label,
            "x": [_x(r[x]) for r in rows],
            "y": [as_float(r[col]) for r in rows],
            "line": {"color": PALETTE[i % len(PALETTE)]},
            "connectgaps": False,
        }
        for i, (label, col) in enumerate(ys.items())
    ]
    return Chart(id, title, traces, {"yaxis": MONEY_AXIS if money else {"rangemode": "tozero"}})


def hbars(id: str, title: str, rows: Rows, *, label: str, value: str, money: bool = True) -> Chart:
    """Horizontal bars, biggest on top (one trace)."""
    ordered = list(reversed(rows))
    trace = {
        "type": "bar",
        "orientation": "h",
        "name": value,
        "y": [_label(r[label]) for r in ordered],
        "x": [as_float(r[value]) for r in ordered],
        "marker": {"color": PALETTE[0]},
    }
    height = max(200, 28 * len(rows) + 80)
    axis = MONEY_AXIS if money else {"rangemode": "tozero"}
    layout = {"xaxis": axis, "yaxis": {"automargin": True}, "showlegend": False}
    return Chart(id, title, [trace], layout, height)


def grouped_bars(
    id: str, title: str, rows: Rows, *, x: str, ys: Mapping[str, str], money: bool = True
) -> Chart:
    traces = [
        {
            "type": "bar",
            "name": label,
            "x": [_label(r[x]) for r in rows],
            "y": [as_float(r[col]) for r in rows],
            "marker": {"color": PALETTE[i % len(PALETTE)]},
        }
        for i, (label, col) in enumerate(ys.items())
    ]
    return Chart(id, title, traces, {"barmode": "group", "yaxis": MONEY_AXIS if money else {}})


def gauges(id: str, title: str, items: Sequence[tuple[str, float]]) -> Chart:
    """Utilization gauges (0..1 each, drawn as percent), laid out in a row."""
    n = max(1, len(items))
    traces = [
        {
            "type": "indicator",
            "mode": "gauge+number",
            "value": round(share * 100, 1),
            "number": {"suffix": "%"},
            "title": {"text": name, "font": {"size": 12}},
            "domain": {"x": [i / n + 0.02, (i + 1) / n - 0.02], "y": [0, 1]},
            "gauge": {
                "axis": {"range": [0, max(100, share * 100)]},
                "bar": {"color": "#c92a2a" if share >= 1 else "#f08c00" if share >= 0.8 else "#2b8a3e"},
                "threshold": {"line": {"color": "#1f2933", "width": 2}, "value": 100},
            },
        }
        for i, (name, share) in enumerate(items)
    ]
    return Chart(id, title, traces, {"margin": {"l": 24, "r": 24, "t": 40, "b": 8}}, 220)


def run_timeline(id: str, title: str, steps: Rows, *, start: datetime) -> Chart:
    """Each step of a run as a bar from its start to its end (ms since the run began), by status."""
    by_status: dict[str, list[Mapping[str, Any]]] = {}
    for s in steps:
        by_status.setdefault(str(s.get("status") or "success"), []).append(s)
    colors = {"success": "#2b8a3e", "retry": "#f08c00", "failure": "#c92a2a", "error": "#c92a2a"}
    traces = []
    for status, rows in by_status.items():
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": status,
                "y": [_step_label(r) for r in rows],
                "base": [_offset_ms(r["started_at"], start) for r in rows],
                "x": [max(float(r.get("latency_ms") or 0.0), 1.0) for r in rows],
                "customdata": [_hover(r) for r in rows],
                "hovertemplate": HOVER,
                "marker": {"color": colors.get(status, "#495057")},
            }
        )
    order = [_step_label(s) for s in steps]
    layout = {
        "xaxis": {"title": {"text": "ms since the run started"}, "rangemode": "tozero"},
        "yaxis": {"categoryorder": "array", "categoryarray": list(reversed(order)), "automargin": True},
        "barmode": "overlay",
    }
    return Chart(id, title, traces, layout, max(220, 30 * len(steps) + 90))


def cost_waterfall(id: str, title: str, steps: Rows) -> Chart:
    """Where a run's money went: each step's cost adding up to the run's total."""
    labels = [_step_label(s) for s in steps]
    trace = {
        "type": "waterfall",
        "name": "cost",
        "orientation": "v",
        "measure": ["relative"] * len(steps) + ["total"],
        "x": [*labels, "run total"],
        "y": [as_float(s.get("cost_usd")) or 0.0 for s in steps] + [0.0],
        "connector": {"line": {"color": "#adb5bd"}},
        "increasing": {"marker": {"color": "#2f6fed"}},
        "totals": {"marker": {"color": "#1f2933"}},
    }
    return Chart(id, title, [trace], {"yaxis": MONEY_AXIS, "showlegend": False})


HOVER = (
    "%{y}<br>model %{customdata[0]}<br>tokens in %{customdata[1]} / out %{customdata[2]}"
    "<br>cost %{customdata[3]}<br>retry %{customdata[4]}<extra>%{fullData.name}</extra>"
)


def _hover(step: Mapping[str, Any]) -> list[Any]:
    cost = step.get("cost_usd")
    return [
        _label(step.get("model")),
        int(step.get("input_tokens") or 0),
        int(step.get("output_tokens") or 0),
        "unpriced" if cost is None else f"${cost}",
        int(step.get("retry_count") or 0),
    ]


def _step_label(step: Mapping[str, Any]) -> str:
    return f"{step.get('seq', '')}. {_label(step.get('step'))}".lstrip(". ")


def _offset_ms(at: Any, start: datetime) -> float:
    if not isinstance(at, datetime):
        return 0.0
    return (at.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds() * 1000.0
