"""The finance part of ``costtrail demo``: provider bills, shared-infra invoices, allocation rules, revenue.

The reports engineer's demo simulates a month of telemetry, then calls
:func:`add_finance_demo` with the same store. The bills are made *from* that
telemetry and differ from it in exactly three ways, which reconciliation must
find and nothing else:

1. a negotiated discount: every call of one provider is billed at ``1 - discount``;
2. a few untracked calls: charges on a project key no instrumented code uses;
3. one stale price: one model billed at ``stale_factor`` times the rate-card price.

It also adds a vector-database and a GPU-cluster invoice (shared cost), the
allocation rules that split them, and revenue per customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.allocation import allocate, parse_rules
from costtrail.finance.period import Period
from costtrail.finance.revenue import RevenueLine, store_revenue
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind
from costtrail.schema.amounts import CENT


@dataclass(frozen=True)
class BillPlan:
    """The discrepancies injected into synthetic bills."""

    providers: tuple[str, ...] = ("openai", "anthropic")  # who sends a bill (others are self-hosted)
    discount_provider: str = "openai"
    discount: Decimal = Decimal("0.10")
    stale_provider: str = "anthropic"
    stale_model: str | None = None  # None: the provider's first model by name
    stale_factor: Decimal = Decimal("1.25")
    untracked_account: str = "proj-untracked"
    untracked_days: tuple[int, ...] = (3, 11, 19)  # day-of-period indexes with untracked calls
    untracked_cost: Decimal = Decimal("4.20")  # per untracked day


@dataclass
class BillSummary:
    lines: list[CostLine] = field(default_factory=list)
    stale_model: str | None = None
    untracked_total: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bill_lines": len(self.lines),
            "stale_model": self.stale_model,
            "untracked_total": self.untracked_total,
        }


def _telemetry(store: LedgerStore, period: Period) -> list[dict[str, Any]]:
    d = store.dialect
    day = d.day("started_at")
    sql = (
        f"SELECT {day} AS day, lower(provider) AS provider, provider_account, model, "
        "sum(coalesce(cost_usd, 0)) AS cost "
        f"FROM {d.final('events')} WHERE {period.where('started_at', d.literal)} "
        "AND model IS NOT NULL AND provider IS NOT NULL AND NOT unpriced "
        f"GROUP BY {day}, lower(provider), provider_account, model ORDER BY 1, 2, 3, 4"
    )
    return store.query(sql)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def synthesize_bills(store: LedgerStore, period: Period, plan: BillPlan | None = None) -> BillSummary:
    """Daily provider bill lines made from the period's telemetry, with the plan's discrepancies."""
    plan = plan or BillPlan()
    rows = [r for r in _telemetry(store, period) if r["provider"] in plan.providers]
    stale = plan.stale_model or min(
        (str(r["model"]) for r in rows if r["provider"] == plan.stale_provider), default=None
    )
    out = BillSummary(stale_model=stale)
    for r in rows:
        cost = Decimal(str(r["cost"]))
        if r["provider"] == plan.discount_provider:
            cost *= 1 - plan.discount
        if r["provider"] == plan.stale_provider and r["model"] == stale:
            cost *= plan.stale_factor
        start = _as_datetime(r["day"])
        out.lines.append(_bill(r["provider"], r["provider_account"], r["model"], start, cost))
    models = sorted({str(r["model"]) for r in rows if r["provider"] == plan.discount_provider})
    if models:
        for n in plan.untracked_days:
            start = period.start + timedelta(days=n)
            out.lines.append(
                _bill(plan.discount_provider, plan.untracked_account, models[0], start, plan.untracked_cost)
            )
            out.untracked_total += plan.untracked_cost
    return out


def _bill(provider: str, account: str | None, model: str, start: datetime, cost: Decimal) -> CostLine:
    amount = cost.quantize(Decimal("0.000000001"))
    return CostLine(
        source=f"demo-bill:{provider}",
        charge_period_start=start,
        charge_period_end=start + timedelta(days=1),
        billed_cost=amount,
        effective_cost=amount,
        provider=provider,
        model=model,
        provider_account=account,
        service_name=f"{provider} API",
        service_category="AI and Machine Learning",
        charge_category="Usage",
        charge_description=f"{model} usage",
    )


def shared_invoices(period: Period) -> list[CostLine]:
    """A vector-database invoice and a GPU-cluster invoice for the period (shared cost)."""
    common = {
        "charge_period_start": period.start,
        "charge_period_end": period.end,
        "charge_category": "Usage",
    }
    return [
        CostLine(
            kind=CostLineKind.SHARED,
            source="demo-invoice:vectordb",
            billed_cost=Decimal("1840.00"),
            provider="vectordb-cloud",
            service_name="Vector DB",
            service_category="Databases",
            resource_id="index/support-kb",
            charge_description="Serverless index: read units and storage",
            **common,
        ),
        CostLine(
            kind=CostLineKind.SHARED,
            source="demo-invoice:gpu-cluster",
            billed_cost=Decimal("6912.00"),
            provider="gpu-cloud",
            service_name="GPU cluster",
            service_category="Compute",
            resource_id="cluster/inference-a100",
            pricing_quantity=Decimal(2880),
            pricing_unit="Hours",
            charge_description="4 x A100 80GB reserved, 720 hours",
            **common,
        ),
    ]


DEMO_RULES: dict[str, Any] = {
    "rules": [
        {
            "id": "vector-db-by-queries",
            "description": "Vector DB invoice split by retrieval queries per customer",
            "owner": "platform-team",
            "review_by": "2027-03-31",
            "pool": {"lines": {"provider": "vectordb-cloud"}},
            "signal": "query_count",
            "target": "customer",
            "method": "proportional",
        },
        {
            "id": "gpu-cluster-by-tokens",
            "description": "GPU cluster split by model tokens per customer",
            "owner": "ml-platform",
            "review_by": "2027-03-31",
            "pool": {"lines": {"provider": "gpu-cloud"}},
            "signal": "total_tokens",
            "target": "customer",
            "method": "proportional",
        },
        {
            "id": "observability-overhead",
            "description": "Observability SaaS as fixed overhead per team",
            "owner": "sre",
            "review_by": "2027-01-31",
            "pool": {"fixed_usd": "450.00"},
            "target": "team",
            "method": "overhead",
            "shares": {"support": 50, "search": 30},
        },
    ]
}


def demo_revenue(store: LedgerStore, period: Period) -> list[RevenueLine]:
    """Revenue per customer seen in the period: a plan fee by tier, deterministic by customer id."""
    d = store.dialect
    rows = store.query(
        "SELECT customer_id, max(plan_tier) AS plan_tier, sum(coalesce(cost_usd, 0)) AS cost "
        f"FROM {d.final('events')} WHERE {period.where('started_at', d.literal)} "
        "AND customer_id IS NOT NULL GROUP BY customer_id ORDER BY customer_id"
    )
    fees = {"free": Decimal(0), "starter": Decimal(49), "pro": Decimal(499), "enterprise": Decimal(2500)}
    lines = []
    for n, r in enumerate(rows):
        tier = r["plan_tier"] or ("pro" if n % 3 else "starter")
        base = fees.get(str(tier), Decimal(199))
        # Every seventh customer is on a legacy discount: the margin-dilutive ones the report should surface.
        revenue = (base * Decimal("0.2") if n % 7 == 3 else base).quantize(CENT)
        lines.append(
            RevenueLine(customer_id=r["customer_id"], period=period.label, revenue=revenue, plan_tier=tier)
        )
    store_revenue(store, lines)
    return lines


def add_finance_demo(store: LedgerStore, period: Period) -> dict[str, Any]:
    """Add the finance demo to a store that already holds the period's telemetry.

    Writes synthetic provider bills (with the three discrepancies of
    :class:`BillPlan`), the shared invoices, runs the demo allocation rules and
    stores revenue per customer. Returns a summary the demo report prints.

    After the demo's events for the period (``costtrail demo`` writes both)::

        summary = add_finance_demo(store, Period.parse("2026-10"))
    """
    bills = synthesize_bills(store, period)
    store.append_cost_lines(bills.lines)
    store.append_cost_lines(shared_invoices(period))
    run = allocate(store, parse_rules(DEMO_RULES, name="demo rules"), period)
    revenue = demo_revenue(store, period)
    return {
        **bills.as_dict(),
        "allocated_lines": len(run.lines),
        "rules": [o.as_dict() for o in run.outcomes],
        "customers_with_revenue": len(revenue),
    }


def ledger_period(store: LedgerStore) -> Period:
    """The days the ledger's events span (the demo simulates N days ending today, not a calendar month)."""
    d = store.dialect
    row = store.query(f"SELECT min(started_at) AS lo, max(started_at) AS hi FROM {d.final('events')}")[0]
    if row["lo"] is None:
        raise ValueError("the ledger has no events: run the simulation first")
    return Period.parse(f"{row['lo'].date().isoformat()}..{row['hi'].date().isoformat()}")


def finance_demo_report(store: LedgerStore, period: Period) -> dict[str, Any]:
    """Reconciliation coverage and findings, and the five least profitable customers (for the demo)."""
    from costtrail.finance.unit_economics import cost_to_serve
    from costtrail.reconcile import reconcile

    rec = reconcile(store, period)
    customers = [r for r in cost_to_serve(store, period, "customer") if r.revenue is not None and r.key]
    least = sorted(customers, key=lambda r: (r.gross_margin or Decimal(0), r.key or ""))[:5]
    return {
        "period": period.label,
        "reconciliation": rec.summary(),
        "findings": [f.as_dict() for f in rec.findings],
        "least_profitable_customers": [r.as_dict() for r in least],
    }
