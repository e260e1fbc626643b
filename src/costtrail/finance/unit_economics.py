"""Unit economics: cost per outcome with a target and drift flag, cost-to-serve and gross margin.

Cost per outcome = total cost of the runs of the workflows that report the
outcome / number of successful outcomes. Cost-to-serve = direct event cost +
allocated shared cost; gross margin = revenue - cost-to-serve.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore
from costtrail.schema.amounts import CENT, MICRO, PCT

# Cost-to-serve dimensions -> (event column, allocation target dimension).
SERVE_DIMENSIONS: dict[str, tuple[str, str]] = {
    "customer": ("customer_id", "customer"),
    "tenant": ("tenant_id", "tenant"),
    "feature": ("feature", "feature"),
    "workflow": ("workflow", "workflow"),
}


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


@dataclass(frozen=True)
class UnitCost:
    """Cost per outcome in a period, with the trailing week, the previous period and the verdict."""

    outcome: str
    workflows: tuple[str, ...]
    period: str
    direct_cost: Decimal
    allocated_cost: Decimal
    outcomes: int
    cost_per_outcome: Decimal | None
    trailing_week: Decimal | None
    previous_period: Decimal | None
    target: Decimal | None
    drift: bool
    reason: str | None

    @property
    def total_cost(self) -> Decimal:
        return self.direct_cost + self.allocated_cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "workflows": ",".join(self.workflows),
            "period": self.period,
            "direct_cost": self.direct_cost,
            "allocated_cost": self.allocated_cost,
            "total_cost": self.total_cost,
            "outcomes": self.outcomes,
            "cost_per_outcome": self.cost_per_outcome,
            "trailing_week": self.trailing_week,
            "previous_period": self.previous_period,
            "target": self.target,
            "drift": self.drift,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class OutcomeGoal:
    """An outcome to price, with its target and drift factor (``costs_per_outcome``)."""

    outcome: str
    target: Decimal | None = None
    drift_factor: Decimal = Decimal("1.25")


def _per(cost: Decimal, count: int) -> Decimal | None:
    return (cost / count).quantize(MICRO) if count else None


def _windows(period: Period) -> dict[str, Period]:
    """The period, its trailing week and the previous period: the three windows of a unit cost."""
    week_start = max(period.start, period.end - timedelta(days=7))
    week = Period(f"{week_start.date()}..{period.end.date()}", week_start, period.end)
    return {"now": period, "week": week, "before": period.previous()}


def _sums_by_window(
    store: LedgerStore,
    table: str,
    key: str,
    value: str,
    time_column: str,
    where: str,
    windows: dict[str, Period],
) -> dict[str, dict[str, Any]]:
    """``{key value: {window: sum of value}}`` in one query (one conditional sum per window)."""
    d = store.dialect
    lo = min(w.start for w in windows.values())
    hi = max(w.end for w in windows.values())
    sums = ", ".join(
        f"sum(CASE WHEN {w.where(time_column, d.literal)} THEN {value} END) AS w_{name}"
        for name, w in windows.items()
    )
    rows = store.query(
        f"SELECT {key} AS k, {sums} FROM {d.final(table)} WHERE {where} "
        f"AND {time_column} >= {d.literal(lo)} AND {time_column} < {d.literal(hi)} GROUP BY {key}"
    )
    return {str(r["k"]): {name: r[f"w_{name}"] for name in windows} for r in rows}


def costs_per_outcome(store: LedgerStore, goals: list[OutcomeGoal], period: Period) -> list[UnitCost]:
    """:func:`cost_per_outcome` for several outcomes at once, in four queries whatever their number
    (the dashboard asks for every outcome with a target)."""
    if not goals:
        return []
    d = store.dialect
    windows = _windows(period)
    names = ", ".join(d.literal(g.outcome) for g in goals)
    workflows: dict[str, list[str]] = defaultdict(list)
    for r in store.query(
        f"SELECT DISTINCT outcome, workflow FROM {d.final('outcomes')} "
        f"WHERE outcome IN ({names}) AND workflow IS NOT NULL ORDER BY outcome, workflow"
    ):
        workflows[str(r["outcome"])].append(str(r["workflow"]))
    every = sorted({w for ws in workflows.values() for w in ws})
    direct: dict[str, dict[str, Any]] = {}
    allocated: dict[str, dict[str, Any]] = {}
    if every:
        in_workflows = ", ".join(d.literal(w) for w in every)
        direct = _sums_by_window(
            store, "events", "workflow", "coalesce(cost_usd, 0)", "started_at",
            f"workflow IN ({in_workflows})", windows,
        )  # fmt: skip
        allocated = _sums_by_window(
            store, "cost_lines", "target_value", "billed_cost", "charge_period_start",
            f"kind = 'allocated' AND target_dimension = 'workflow' AND target_value IN ({in_workflows})",
            windows,
        )  # fmt: skip
    counts = _sums_by_window(
        store, "outcomes", "outcome", "1", "recorded_at", f"success AND outcome IN ({names})", windows
    )
    out: list[UnitCost] = []
    for goal in goals:
        mine = tuple(workflows.get(goal.outcome, ()))

        def total(source: dict[str, dict[str, Any]], window: str, mine: tuple[str, ...] = mine) -> Decimal:
            return sum((_dec(source.get(w, {}).get(window)) for w in mine), Decimal(0))

        # An outcome no workflow reports has no cost to divide: it counts no outcomes either.
        n = {w: int(counts.get(goal.outcome, {}).get(w) or 0) if mine else 0 for w in windows}
        cost = {w: total(direct, w) + total(allocated, w) for w in windows}
        trailing, previous = _per(cost["week"], n["week"]), _per(cost["before"], n["before"])
        target, factor = goal.target, goal.drift_factor
        reason = None
        if trailing is not None and target is not None and trailing > target * factor:
            reason = f"trailing week {trailing} > target {target} x {factor}"
        elif trailing is not None and previous is not None and trailing > previous * factor:
            reason = f"trailing week {trailing} > previous period {previous} x {factor}"
        out.append(
            UnitCost(
                outcome=goal.outcome,
                workflows=mine,
                period=period.label,
                direct_cost=total(direct, "now"),
                allocated_cost=total(allocated, "now"),
                outcomes=n["now"],
                cost_per_outcome=_per(cost["now"], n["now"]),
                trailing_week=trailing,
                previous_period=previous,
                target=target,
                drift=reason is not None,
                reason=reason,
            )
        )
    return out


def cost_per_outcome(
    store: LedgerStore,
    outcome: str,
    period: Period,
    *,
    target: Decimal | None = None,
    drift_factor: Decimal = Decimal("1.25"),
) -> UnitCost:
    """Cost per successful ``outcome`` in the period, flagged when the trailing week drifts.

    Drift: the last 7 days' cost per outcome exceeds ``target x drift_factor``, or the
    previous period's cost per outcome x ``drift_factor``.
    """
    return costs_per_outcome(store, [OutcomeGoal(outcome, target, drift_factor)], period)[0]


@dataclass
class ServeRow:
    """Cost-to-serve and margin of one customer, tenant, plan tier, feature or workflow."""

    key: str | None
    direct: Decimal = Decimal(0)
    allocated: Decimal = Decimal(0)
    revenue: Decimal | None = None
    plan_tier: str | None = None

    @property
    def cost_to_serve(self) -> Decimal:
        return self.direct + self.allocated

    @property
    def gross_margin(self) -> Decimal | None:
        return None if self.revenue is None else self.revenue - self.cost_to_serve

    @property
    def margin_pct(self) -> Decimal | None:
        if self.revenue is None or self.revenue == 0:
            return None
        margin = self.gross_margin
        assert margin is not None
        return (margin / self.revenue * 100).quantize(PCT)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "plan_tier": self.plan_tier,
            "direct_cost": self.direct,
            "allocated_cost": self.allocated,
            "cost_to_serve": self.cost_to_serve,
            "revenue": self.revenue,
            "gross_margin": self.gross_margin,
            "margin_pct": self.margin_pct,
        }


def cost_to_serve(store: LedgerStore, period: Period, by: str = "customer") -> list[ServeRow]:
    """Direct + allocated cost and, where revenue is known, gross margin per ``by``.

    ``by`` is customer, tenant, feature, workflow or plan_tier (customers rolled up
    by the tier their revenue line, or else their events, name).
    """
    if by == "plan_tier":
        return _by_tier(store, period)
    if by not in SERVE_DIMENSIONS:
        raise ValueError(f"cost-to-serve by {by!r}: use one of {', '.join([*SERVE_DIMENSIONS, 'plan_tier'])}")
    column, dimension = SERVE_DIMENSIONS[by]
    d = store.dialect
    rows: dict[str | None, ServeRow] = {}

    def row(key: Any) -> ServeRow:
        k = None if key is None else str(key)
        if k not in rows:
            rows[k] = ServeRow(k)
        return rows[k]

    for r in store.query(
        f"SELECT {column} AS k, max(plan_tier) AS tier, sum(coalesce(cost_usd, 0)) AS cost "
        f"FROM {d.final('events')} WHERE {period.where('started_at', d.literal)} GROUP BY {column}"
    ):
        target = row(r["k"])
        target.direct += _dec(r["cost"])
        target.plan_tier = r["tier"]
    # A revenue or allocated line covers its charge period (a month, as imported); a range that
    # overlaps it takes the overlapping share of the line, pro rata by time, so "last 30 days"
    # over parts of two months gets those days' revenue.
    lines = store.query(
        "SELECT kind, target_value AS k, billed_cost AS amount, tags, "
        "charge_period_start AS s, charge_period_end AS e "
        f"FROM {d.final('cost_lines')} WHERE kind IN ('allocated', 'revenue') "
        f"AND target_dimension = {d.literal(dimension)} "
        f"AND charge_period_start < {d.literal(period.end)} "
        f"AND coalesce(charge_period_end, charge_period_start) >= {d.literal(period.start)} "
        "ORDER BY charge_period_start"
    )
    for r in lines:
        share = _overlap_share(period, r["s"], r["e"])
        if share is None:
            continue
        target = row(r["k"])
        amount = _dec(r["amount"]) if share == 1 else (_dec(r["amount"]) * share).quantize(MICRO)
        if r["kind"] == "allocated":
            target.allocated += amount
        else:
            target.revenue = (target.revenue or Decimal(0)) + amount
            tier = _tier_tag(r["tags"])
            target.plan_tier = tier or target.plan_tier
    return sorted(rows.values(), key=lambda s: (-s.cost_to_serve, s.key or ""))


def _overlap_share(period: Period, start: datetime, end: datetime | None) -> Decimal | None:
    """The share of a line's charge period ``start..end`` inside ``period`` (None: none of it)."""
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end is None or end.tzinfo else end.replace(tzinfo=UTC)
    if end is None or end <= start:  # a line for an instant counts whole when the range holds it
        return Decimal(1) if period.start <= start < period.end else None
    inside = min(end, period.end) - max(start, period.start)
    if inside <= timedelta(0):
        return None
    return Decimal(int(inside.total_seconds())) / Decimal(int((end - start).total_seconds()))


def _tier_tag(tags: Any) -> str | None:
    import json

    if not tags:
        return None
    value = json.loads(tags).get("plan_tier") if isinstance(tags, str) else None
    return str(value) if value else None


def _by_tier(store: LedgerStore, period: Period) -> list[ServeRow]:
    tiers: dict[str | None, ServeRow] = defaultdict(lambda: ServeRow(None))
    for c in cost_to_serve(store, period, "customer"):
        t = tiers[c.plan_tier]
        t.key = c.plan_tier
        t.plan_tier = c.plan_tier
        t.direct += c.direct
        t.allocated += c.allocated
        if c.revenue is not None:
            t.revenue = (t.revenue or Decimal(0)) + c.revenue
    return sorted(tiers.values(), key=lambda s: (-s.cost_to_serve, s.key or ""))


def margin_dilutive(rows: list[ServeRow], threshold_pct: Decimal = Decimal(0)) -> list[dict[str, Any]]:
    """Rows with revenue whose margin is below ``threshold_pct``, most dollars lost first.

    Dollars lost = the margin the threshold asks for minus the margin made.
    """
    out = []
    for r in rows:
        if r.revenue is None or r.key is None:
            continue
        margin = r.gross_margin
        assert margin is not None
        wanted = r.revenue * threshold_pct / 100
        if r.margin_pct is None or r.margin_pct < threshold_pct:
            out.append({**r.as_dict(), "dollars_lost": (wanted - margin).quantize(CENT)})
    return sorted(out, key=lambda d: (-d["dollars_lost"], d["key"]))
