"""Running allocation rules for a period: pools split into allocated lines that conserve every cent.

The store is reached only through :class:`LedgerStore` and its dialect, so the
same run works on DuckDB and ClickHouse.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from costtrail.allocation.rules import AllocationRule, AllocationRuleError, Method, Signal
from costtrail.allocation.split import split_amount
from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind

RATIO_PLACES = Decimal("0.000000001")
POOL_KINDS = ("billed", "shared")
ALLOCATION_KINDS = ("allocated", "unallocated")
SIGNAL_SQL: dict[Signal, str] = {
    Signal.INPUT_TOKENS: "sum(input_tokens)",
    Signal.OUTPUT_TOKENS: "sum(output_tokens)",
    Signal.TOTAL_TOKENS: "sum(input_tokens) + sum(output_tokens)",
    Signal.REQUESTS: "sum(request_count)",
    Signal.COMPUTE_SECONDS: "sum(coalesce(compute_seconds, 0))",
    Signal.QUERY_COUNT: "sum(query_count)",
    Signal.WORKFLOW_RUNS: "count(DISTINCT run_id)",
    Signal.EVENT_COST: "sum(coalesce(cost_usd, 0))",
    Signal.EVEN: "count(*)",
}
# Sorts after every real target value, so the unallocated part breaks ties last.
_UNALLOCATED_KEY = "\uffff"


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule did in a period."""

    rule_id: str
    owner: str
    method: str
    pool: Decimal
    allocated: Decimal
    unallocated: Decimal
    targets: int
    pool_lines: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "owner": self.owner,
            "method": self.method,
            "pool": self.pool,
            "allocated": self.allocated,
            "unallocated": self.unallocated,
            "targets": self.targets,
            "pool_lines": self.pool_lines,
        }


@dataclass
class AllocationRun:
    """The lines written for a period and a summary per rule."""

    period: str
    lines: list[CostLine] = field(default_factory=list)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    replaced: int = 0


@dataclass(frozen=True)
class _Part:
    target: str | None  # None: unallocated
    amount: Decimal
    quantity: Decimal | None
    ratio: Decimal | None
    reason: str | None = None


def _d(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _pool_rows(store: LedgerStore, rule: AllocationRule, period: Period) -> list[dict[str, Any]]:
    lit = store.dialect.literal
    assert rule.pool.lines is not None
    where = [
        period.where("charge_period_start", lit),
        f"kind IN ({', '.join(lit(k) for k in POOL_KINDS)})",
    ]
    for key, value in sorted(rule.pool.lines.items()):
        column = store.dialect.json_value("tags", key[5:]) if key.startswith("tags.") else key
        where.append(f"{column} = {lit(value)}")
    sql = (
        "SELECT line_id, coalesce(effective_cost, billed_cost) AS amount, tags "
        f"FROM {store.dialect.final('cost_lines')} WHERE {' AND '.join(where)} ORDER BY line_id"
    )
    return store.query(sql)


def signal_by_target(store: LedgerStore, rule: AllocationRule, period: Period) -> dict[str | None, Decimal]:
    """The rule's signal per target value in the period (None: events without the dimension)."""
    lit = store.dialect.literal
    column = rule.target_column
    where = [period.where("started_at", lit)]
    where += [f"{key} = {lit(value)}" for key, value in sorted(rule.events.items())]
    sql = (
        f"SELECT {column} AS target, {SIGNAL_SQL[rule.signal]} AS qty "
        f"FROM {store.dialect.final('events')} WHERE {' AND '.join(where)} GROUP BY {column}"
    )
    return {row["target"]: _d(row["qty"]) for row in store.query(sql)}


def _proportional(amount: Decimal, signal: dict[str | None, Decimal], even: bool) -> list[_Part]:
    weights = {
        t: (Decimal(1) if even else q) for t, q in signal.items() if q > 0 and (t is not None or not even)
    }
    total = sum(weights.values(), Decimal(0))
    if total <= 0:
        return [_Part(None, amount, Decimal(0), None, "signal is zero in the period: nothing to allocate by")]
    keys = sorted(weights, key=lambda t: _UNALLOCATED_KEY if t is None else t)
    parts = split_amount(
        amount, [weights[k] for k in keys], [_UNALLOCATED_KEY if k is None else k for k in keys]
    )
    out: list[_Part] = []
    for key, part in zip(keys, parts, strict=True):
        ratio = (weights[key] / total).quantize(RATIO_PLACES)
        qty = signal[key]
        if key is None:
            out.append(_Part(None, part, qty, ratio, "signal from events without the target dimension"))
        else:
            out.append(_Part(key, part, qty, ratio))
    return out


def _overhead(amount: Decimal, shares: dict[str, Decimal]) -> list[_Part]:
    rest = Decimal(100) - sum(shares.values(), Decimal(0))
    keys = sorted(shares)
    weights = [shares[k] for k in keys]
    if rest > 0:
        keys.append(_UNALLOCATED_KEY)
        weights.append(rest)
    parts = split_amount(amount, weights, keys)
    out = []
    for key, weight, part in zip(keys, weights, parts, strict=True):
        ratio = (weight / 100).quantize(RATIO_PLACES)
        if key == _UNALLOCATED_KEY:
            out.append(_Part(None, part, None, ratio, "shares add up to less than 100%"))
        else:
            out.append(_Part(key, part, None, ratio))
    return out


def _direct_by_tag(rows: Sequence[dict[str, Any]], tag: str) -> list[_Part]:
    sums: dict[str | None, Decimal] = defaultdict(Decimal)
    for row in rows:
        tags = json.loads(row["tags"]) if row.get("tags") else {}
        sums[tags.get(tag)] += _d(row["amount"])
    total = sum(sums.values(), Decimal(0))
    out = []
    for key in sorted(sums, key=lambda t: _UNALLOCATED_KEY if t is None else t):
        ratio = (sums[key] / total).quantize(RATIO_PLACES) if total else None
        reason = f"pool lines without the {tag!r} tag" if key is None else None
        out.append(_Part(key, sums[key], None, ratio, reason))
    return out


def allocate_rule(
    store: LedgerStore, rule: AllocationRule, period: Period, pool_rows: Sequence[dict[str, Any]] | None
) -> tuple[list[CostLine], RuleOutcome]:
    """Split one rule's pool for the period into allocated (and unallocated) lines."""
    amount = rule.pool.fixed_usd if rule.pool.fixed_usd is not None else Decimal(0)
    if pool_rows is not None:
        amount = sum((_d(r["amount"]) for r in pool_rows), Decimal(0))
    if rule.method is Method.DIRECT and rule.tag is not None:
        parts = _direct_by_tag(pool_rows or [], rule.tag)
    elif rule.method is Method.DIRECT:
        parts = [_Part(rule.value, amount, None, Decimal(1))]
    elif rule.method is Method.OVERHEAD:
        assert rule.shares is not None
        parts = _overhead(amount, rule.shares)
    else:
        signal = signal_by_target(store, rule, period)
        parts = _proportional(amount, signal, even=rule.method is Method.EVEN)
    if amount == 0:
        parts = []
    lines = [_line(rule, period, p) for p in parts]
    allocated = sum((p.amount for p in parts if p.target is not None), Decimal(0))
    outcome = RuleOutcome(
        rule_id=rule.id,
        owner=rule.owner,
        method=rule.method.value,
        pool=amount,
        allocated=allocated,
        unallocated=amount - allocated if parts else Decimal(0),
        targets=sum(1 for p in parts if p.target is not None),
        pool_lines=len(pool_rows or []),
    )
    return lines, outcome


def _line(rule: AllocationRule, period: Period, part: _Part) -> CostLine:
    tags = {"owner": rule.owner, "review_by": rule.review_by.isoformat(), "method": rule.method.value}
    return CostLine(
        kind=CostLineKind.ALLOCATED if part.target is not None else CostLineKind.UNALLOCATED,
        source=f"rule:{rule.id}",
        charge_period_start=period.start,
        charge_period_end=period.end,
        billed_cost=part.amount,
        effective_cost=part.amount,
        charge_description=part.reason or rule.description,
        charge_category="Usage",
        tags=tags,
        rule_id=rule.id,
        signal=None if rule.method in (Method.DIRECT, Method.OVERHEAD) else rule.signal.value,
        signal_quantity=part.quantity,
        ratio=part.ratio,
        target_dimension=rule.target,
        target_value=part.target,
        confidence=rule.confidence,
        allocation_period=period.label,
    )


def allocate(store: LedgerStore, rules: Sequence[AllocationRule], period: Period) -> AllocationRun:
    """Run every rule for the period, replacing the period's earlier allocations.

    Each pool is conserved exactly: allocated plus unallocated lines add up to
    the pool. A cost line may belong to one rule's pool only.
    """
    run = AllocationRun(period=period.label)
    owner_of: dict[str, str] = {}
    pools: dict[str, list[dict[str, Any]] | None] = {}
    for rule in rules:
        rows = _pool_rows(store, rule, period) if rule.pool.lines is not None else None
        for row in rows or []:
            if row["line_id"] in owner_of:
                raise AllocationRuleError(
                    f"cost line {row['line_id']} is in the pools of rules {owner_of[row['line_id']]!r} and "
                    f"{rule.id!r}: narrow one pool's filter so each line is allocated once"
                )
            owner_of[row["line_id"]] = rule.id
        pools[rule.id] = rows
    for rule in rules:
        lines, outcome = allocate_rule(store, rule, period, pools[rule.id])
        run.lines.extend(lines)
        run.outcomes.append(outcome)
    lit = store.dialect.literal
    run.replaced = store.delete_cost_lines(
        f"kind IN ({', '.join(lit(k) for k in ALLOCATION_KINDS)}) AND allocation_period = {lit(period.label)}"
    )
    store.append_cost_lines(run.lines)
    return run
