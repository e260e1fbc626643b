"""Revenue per customer or tenant and period, imported from CSV and kept in the ledger.

CSV columns: ``customer_id`` or ``tenant_id``, ``period`` (``YYYY-MM``), ``revenue``
(a decimal amount), optional ``plan_tier`` and ``currency``. Revenue is stored
as cost lines of kind ``revenue`` (money in: never summed as cost); re-importing
a period replaces that period's revenue for the same customers.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from costtrail.finance.period import Period, PeriodError
from costtrail.ledger.store import AppendResult, LedgerStore
from costtrail.schema import CostLine, CostLineKind


class RevenueFormatError(ValueError):
    """A revenue file that cannot be read; names the row and column."""


@dataclass(frozen=True)
class RevenueLine:
    """Revenue of one customer (or tenant) in one period."""

    period: str
    revenue: Decimal
    customer_id: str | None = None
    tenant_id: str | None = None
    plan_tier: str | None = None
    currency: str = "USD"

    @property
    def dimension(self) -> str:
        return "customer" if self.customer_id else "tenant"

    @property
    def target(self) -> str:
        value = self.customer_id or self.tenant_id
        assert value is not None
        return value

    def to_cost_line(self) -> CostLine:
        period = Period.parse(self.period)
        return CostLine(
            kind=CostLineKind.REVENUE,
            source="revenue",
            charge_period_start=period.start,
            charge_period_end=period.end,
            billed_cost=self.revenue,
            currency=self.currency,
            target_dimension=self.dimension,
            target_value=self.target,
            allocation_period=period.label,
            tags={"plan_tier": self.plan_tier} if self.plan_tier else {},
        )


def read_revenue_csv(path: Path) -> list[RevenueLine]:
    """Parse a revenue CSV; errors name the row (1 = first data row) and the column."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        if not header & {"customer_id", "tenant_id"}:
            raise RevenueFormatError(
                f"{path.name}: row 0, column customer_id or tenant_id: missing from the header"
            )
        for column in ("period", "revenue"):
            if column not in header:
                raise RevenueFormatError(f"{path.name}: row 0, column {column}: missing from the header")
        lines = []
        for n, row in enumerate(reader, start=1):
            lines.append(_line(path.name, n, row))
    return lines


def _line(name: str, n: int, row: dict[str, str]) -> RevenueLine:
    def fail(column: str, reason: str) -> RevenueFormatError:
        return RevenueFormatError(f"{name}: row {n}, column {column}: {reason}")

    customer = (row.get("customer_id") or "").strip() or None
    tenant = (row.get("tenant_id") or "").strip() or None
    if not customer and not tenant:
        raise fail("customer_id", "is empty: give customer_id or tenant_id")
    period = (row.get("period") or "").strip()
    try:
        Period.parse(period)
    except PeriodError as exc:
        raise fail("period", str(exc)) from None
    text = (row.get("revenue") or "").strip().replace(",", "")
    try:
        revenue = Decimal(text)
    except InvalidOperation:
        raise fail("revenue", f"{text!r} is not an amount") from None
    if not revenue.is_finite():
        raise fail("revenue", f"{text!r} is not a finite amount")
    return RevenueLine(
        period=period,
        revenue=revenue,
        customer_id=customer,
        tenant_id=None if customer else tenant,
        plan_tier=(row.get("plan_tier") or "").strip() or None,
        currency=(row.get("currency") or "USD").strip() or "USD",
    )


def store_revenue(store: LedgerStore, lines: Sequence[RevenueLine]) -> AppendResult:
    """Replace the stored revenue of these customers/tenants in these periods with ``lines``."""
    lit = store.dialect.literal
    for period in sorted({ln.period for ln in lines}):
        targets = sorted({ln.target for ln in lines if ln.period == period})
        store.delete_cost_lines(
            f"kind = 'revenue' AND allocation_period = {lit(Period.parse(period).label)} "
            f"AND target_value IN ({', '.join(lit(t) for t in targets)})"
        )
    return store.append_cost_lines([ln.to_cost_line() for ln in lines])


def import_revenue(path: Path, store: LedgerStore) -> AppendResult:
    """Import a revenue CSV (idempotent: re-importing replaces, never doubles)."""
    return store_revenue(store, read_revenue_csv(path))
