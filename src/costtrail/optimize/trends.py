"""Drift and forecast: cost and tokens per call and per run over time, and the month-end run rate.

:func:`drift` builds a daily (or weekly) series for a scope and looks for one
change-point per metric: the split of the series that maximises Welch's t
between the means before and after. A change is flagged when ``|t|`` is at
least ``t_threshold`` and the means differ by at least ``min_change`` (20%).
It also reports the week-over-week change of the last 7 days.

:func:`forecast` projects month-end spend: month-to-date plus the daily run
rate of the last 7 complete days (fewer early in the month) times the days left.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.controls.config import BudgetConfig
from costtrail.controls.periods import as_utc, period_bounds
from costtrail.controls.spend import scope_sql
from costtrail.ledger.store import LedgerStore
from costtrail.optimize.traffic import TrafficScope
from costtrail.schema.amounts import MICRO

METRICS = (
    "cost_per_call",
    "cost_per_run",
    "input_tokens_per_call",
    "output_tokens_per_call",
    "calls_per_run",
)


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def series(store: LedgerStore, scope: TrafficScope, *, by: str = "day") -> list[dict[str, Any]]:
    """Per day (or ISO week, starting Monday): calls, runs, cost, and the per-call / per-run figures."""
    if by not in ("day", "week"):
        raise ValueError("by must be day or week")
    d = store.dialect
    rows = store.query(
        f"SELECT {d.day('started_at')} AS day, count(*) AS calls, count(DISTINCT run_id) AS runs, "
        f"sum(cost_usd) AS cost, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens "
        f"FROM {d.final('events')} WHERE kind = 'llm' AND {scope.sql(store)} "
        f"GROUP BY {d.day('started_at')} ORDER BY day"
    )
    buckets: dict[date, dict[str, Any]] = {}
    for r in rows:
        day = _day(r["day"])
        key = day - timedelta(days=day.weekday()) if by == "week" else day
        b = buckets.setdefault(
            key, {"period": key, "calls": 0, "runs": 0, "cost": Decimal(0), "inp": 0, "out": 0}
        )
        b["calls"] += int(r["calls"])
        b["runs"] += int(r["runs"])  # a run spanning midnight counts in both days
        b["cost"] += Decimal(str(r["cost"] or 0))
        b["inp"] += int(r["input_tokens"] or 0)
        b["out"] += int(r["output_tokens"] or 0)
    out = []
    for b in buckets.values():
        calls, runs = b["calls"], b["runs"]
        out.append(
            {
                "period": b["period"],
                "calls": calls,
                "runs": runs,
                "cost": b["cost"],
                "cost_per_call": (b["cost"] / calls).quantize(MICRO),
                "cost_per_run": (b["cost"] / runs).quantize(MICRO) if runs else None,
                "input_tokens_per_call": round(b["inp"] / calls, 1),
                "output_tokens_per_call": round(b["out"] / calls, 1),
                "calls_per_run": round(calls / runs, 3) if runs else None,
            }
        )
    return out


@dataclass(frozen=True)
class ChangePoint:
    metric: str
    at: date
    before: float
    after: float
    change_pct: float
    t: float

    def as_row(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "changed_on": self.at,
            "before": round(self.before, 6),
            "after": round(self.after, 6),
            "change_pct": round(self.change_pct, 1),
            "t": round(self.t, 1),
        }


def change_point(
    values: Sequence[float], periods: Sequence[date], metric: str, *, t_threshold: float = 4.0,
    min_change: float = 0.2, min_segment: int = 3,
) -> ChangePoint | None:  # fmt: skip
    """The strongest single shift in mean, if it is both significant and large."""
    best: ChangePoint | None = None
    for k in range(min_segment, len(values) - min_segment + 1):
        a, b = values[:k], values[k:]
        ma, mb = statistics.fmean(a), statistics.fmean(b)
        va, vb = statistics.variance(a), statistics.variance(b)
        se = math.sqrt(va / len(a) + vb / len(b))
        # A flat series on both sides of a step is as significant as it gets; keep t finite for JSON.
        t = (mb - ma) / se if se else math.copysign(1e9, mb - ma) if ma != mb else 0.0
        if best is None or abs(t) > abs(best.t):
            change = (mb - ma) / ma * 100 if ma else 1e9
            best = ChangePoint(metric, periods[k], ma, mb, change, t)
    if best is None or abs(best.t) < t_threshold or abs(best.change_pct) < min_change * 100:
        return None
    return best


def drift(
    store: LedgerStore,
    scope: TrafficScope,
    *,
    by: str = "day",
    t_threshold: float = 4.0,
    min_change: float = 0.2,
) -> dict[str, Any]:
    """The series, a change-point per metric (if any), and the week-over-week change of cost per call."""
    rows = series(store, scope, by=by)
    points = []
    for metric in METRICS:
        kept = [(r["period"], float(r[metric])) for r in rows if r[metric] is not None]
        cp = change_point([v for _, v in kept], [p for p, _ in kept], metric, t_threshold=t_threshold,
                          min_change=min_change)  # fmt: skip
        if cp is not None:
            points.append(cp)
    wow = None
    if by == "day" and rows:
        last = rows[-1]["period"]
        recent = [r for r in rows if r["period"] > last - timedelta(days=7)]
        before = [r for r in rows if last - timedelta(days=14) < r["period"] <= last - timedelta(days=7)]
        if recent and before:
            now_cpc = sum((r["cost"] for r in recent), Decimal(0)) / sum(r["calls"] for r in recent)
            then_cpc = sum((r["cost"] for r in before), Decimal(0)) / sum(r["calls"] for r in before)
            wow = round(float((now_cpc - then_cpc) / then_cpc * 100), 1) if then_cpc else None
    return {
        "series": rows,
        "change_points": [p.as_row() for p in points],
        "week_over_week_cost_per_call_pct": wow,
    }


def forecast(
    store: LedgerStore, now: datetime, budgets: Sequence[BudgetConfig] = (), *, rate_days: int = 7
) -> list[dict[str, Any]]:
    """Month-end spend forecast in total and for each budget's scope (limit shown for monthly USD budgets)."""
    now = as_utc(now)
    start, end = period_bounds("month", now)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window_start = max(start, today - timedelta(days=rate_days))
    scopes: list[tuple[str, dict[str, str], Decimal | None]] = [("(total)", {}, None)]
    for b in budgets:
        if b.limit_usd is not None:
            scopes.append((b.name, dict(b.scope), b.limit_usd if b.period == "month" else None))
    lit = store.dialect.literal
    out = []
    for name, scope, limit in scopes:
        row = store.query(
            f"SELECT sum(cost_usd) AS mtd, sum(CASE WHEN started_at >= {lit(window_start)} "
            f"AND started_at < {lit(today)} THEN cost_usd END) AS recent "
            f"FROM {store.dialect.final('events')} "
            f"WHERE started_at >= {lit(start)} AND started_at < {lit(now)} "
            f"AND {scope_sql(store, scope)}"
        )[0]
        mtd = Decimal(str(row["mtd"] or 0))
        rate_span = (today - window_start).days
        if rate_span >= 1:
            rate = Decimal(str(row["recent"] or 0)) / rate_span
        else:  # the first day of the month: only today so far
            elapsed_days = Decimal(str(max((now - start).total_seconds(), 1) / 86400))
            rate = mtd / elapsed_days
        days_left = Decimal(str((end - now).total_seconds() / 86400))
        projected = (mtd + rate * days_left).quantize(MICRO)
        out.append(
            {
                "scope": name,
                "filter": ", ".join(f"{k}={v}" for k, v in sorted(scope.items())) or "(all)",
                "month_to_date": mtd.quantize(MICRO),
                "daily_rate": rate.quantize(MICRO),
                "forecast_month_end": projected,
                "limit": limit,
                "over_limit": None if limit is None else projected >= limit,
            }
        )
    return out
