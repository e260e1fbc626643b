"""Invoices: each customer's plan applied to what the ledger measured in a period.

Every line has its quantity, unit price, amount, the ledger cost behind it and
its margin; its id (``2026-11:acme:output-tokens``) lists the events, runs or
outcomes behind it (:func:`line_rows`), which sum to its quantity. Unpriced
usage is counted on the line and the invoice, never billed as a silent zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from costtrail.billing.charges import Priced, price
from costtrail.billing.plans import Charge, Plan, PricePlans
from costtrail.billing.usage import CustomerUsage, Measured, behind_sql, measure, measure_key
from costtrail.finance.period import Period
from costtrail.ledger.rows import restore_event_id
from costtrail.ledger.store import LedgerStore
from costtrail.schema.amounts import CENT, PCT

MINIMUM = "@minimum"


class InvoiceError(ValueError):
    """An invoice or line that cannot be made; the message names what and how to fix it."""


@dataclass(frozen=True)
class InvoiceLine:
    line_id: str
    charge: str
    metric: str
    description: str
    priced: Priced
    cost: Decimal | None
    unpriced_events: int

    @property
    def amount(self) -> Decimal:
        return self.priced.amount

    @property
    def margin(self) -> Decimal | None:
        return None if self.cost is None else self.amount - self.cost

    def as_dict(self) -> dict[str, Any]:
        p = self.priced
        return {
            "line_id": self.line_id,
            "charge": self.charge,
            "metric": self.metric,
            "description": self.description,
            "quantity": p.quantity,
            "included": p.included,
            "billable_quantity": p.billable,
            "unit_price": p.unit_price,
            "per": p.per,
            "amount": p.amount,
            "cost": self.cost,
            "margin": self.margin,
            "unpriced_events": self.unpriced_events,
            "tiers": [s.as_dict() for s in p.slices],
        }


@dataclass(frozen=True)
class Invoice:
    """One customer's invoice for one period under one plan version."""

    customer_id: str
    period: str
    plan: str
    plan_version: str
    lines: tuple[InvoiceLine, ...]
    cost: Decimal | None
    events: int
    unpriced_events: int
    price_refs: dict[str, int]
    generated_at: datetime
    currency: str = "USD"

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def margin(self) -> Decimal | None:
        return None if self.cost is None else self.total - self.cost

    @property
    def margin_pct(self) -> Decimal | None:
        m = self.margin
        return None if m is None or not self.total else (m / self.total * 100).quantize(PCT)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "period": self.period,
            "plan": self.plan,
            "plan_version": self.plan_version,
            "currency": self.currency,
            "total": self.total,
            "cost": self.cost,
            "margin": self.margin,
            "margin_pct": self.margin_pct,
            "events": self.events,
            "unpriced_events": self.unpriced_events,
            "lines": [line.as_dict() for line in self.lines],
            "prices_used": {
                "plan_version": self.plan_version,
                "price_refs": dict(sorted(self.price_refs.items())),
                "priced_as_of": self.generated_at,
            },
        }


@dataclass(frozen=True)
class InvoiceRun:
    """Every invoice of a period, with the customers no plan applies to (never dropped silently)."""

    period: str
    invoices: tuple[Invoice, ...]
    without_plan: tuple[str, ...] = ()
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def total(self) -> Decimal:
        return sum((i.total for i in self.invoices), Decimal(0))

    def summary_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "customer_id": i.customer_id,
                "plan": i.plan_version,
                "lines": len(i.lines),
                "total": i.total,
                "cost": i.cost,
                "margin": i.margin,
                "margin_pct": i.margin_pct,
                "unpriced_events": i.unpriced_events,
            }
            for i in self.invoices
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "total": self.total,
            "invoices": [i.as_dict() for i in self.invoices],
            "customers_without_plan": list(self.without_plan),
        }


def line_id(period: Period, customer: str, charge: str) -> str:
    return f"{period.label}:{customer}:{charge}"


def parse_line_id(text: str) -> tuple[Period, str, str]:
    """``2026-11:acme:output-tokens`` -> (period, customer, charge)."""
    head, sep, charge = text.rpartition(":")
    label, sep2, customer = head.partition(":")
    if not sep or not sep2 or not customer or not charge:
        raise InvoiceError(
            f"line id {text!r} is not PERIOD:CUSTOMER:CHARGE (e.g. 2026-11:acme:output-tokens); "
            "costtrail invoice preview lists the ids"
        )
    return Period.parse(label), customer, charge


def preview(store: LedgerStore, plans: PricePlans, period: Period, customer: str | None = None) -> InvoiceRun:
    """The invoices of ``period`` (all customers, or one), from the plans in effect on its first day."""
    now = datetime.now(UTC)
    in_effect = plans.in_effect(period.start)
    charges = [c for p in in_effect for c in p.charges]
    usage = measure(store, period, charges)
    if customer is not None:
        if customer not in usage:
            raise InvoiceError(f"customer {customer!r} has no events in {period.label}")
        usage = {customer: usage[customer]}
    static = {id(c): (measure_key(c), c.description or _describe(c)) for c in charges}
    invoices, without = [], []
    for cid in sorted(usage):
        u = usage[cid]
        plan = plans.plan_for(cid, u.plan_tier, period.start, in_effect)
        if plan is None:
            without.append(cid)
            continue
        invoices.append(_invoice(plan, u, period, now, static))
    return InvoiceRun(period.label, tuple(invoices), tuple(without), now)


def _invoice(
    plan: Plan, usage: CustomerUsage, period: Period, now: datetime, static: dict[int, tuple[str, str]]
) -> Invoice:
    """``static``: each charge's measure key and description, by ``id(charge)``."""
    lines = []
    for c in plan.charges:
        key, description = static[id(c)]
        lines.append(_line(c, usage.measures.get(key, Measured()), usage.customer_id, period, description))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    if plan.minimum_usd is not None and subtotal < plan.minimum_usd:
        top_up = (plan.minimum_usd - subtotal).quantize(CENT)
        lines.append(
            InvoiceLine(
                line_id(period, usage.customer_id, MINIMUM),
                MINIMUM,
                "minimum",
                f"minimum commitment of ${plan.minimum_usd} per period",
                Priced(Decimal(1), Decimal(0), Decimal(1), top_up, Decimal(1), top_up, ()),
                Decimal(0),
                0,
            )
        )
    return Invoice(
        usage.customer_id,
        period.label,
        plan.name,
        plan.version,
        tuple(lines),
        usage.cost,
        usage.events,
        usage.unpriced_events,
        dict(usage.price_refs),
        now,
        plan.currency,
    )


def _line(charge: Charge, m: Measured, customer: str, period: Period, description: str) -> InvoiceLine:
    cost = m.cost
    if cost is None and not m.unpriced_events:
        cost = Decimal(0)  # nothing behind the line at all: a real zero
    return InvoiceLine(
        line_id(period, customer, charge.name),
        charge.name,
        charge.metric,
        description,
        price(charge, m.quantity),
        cost,
        m.unpriced_events,
    )


def _describe(charge: Charge) -> str:
    what = charge.metric.replace("_", " ")
    if charge.markup_pct is not None:
        return f"usage at ledger cost + {charge.markup_pct}%"
    if charge.where:
        what += " (" + ", ".join(f"{k} {'/'.join(v)}" for k, v in sorted(charge.where.items())) + ")"
    return what


def line_rows(store: LedgerStore, plans: PricePlans, line: str, limit: int | None = None) -> dict[str, Any]:
    """The events, runs or outcomes behind an invoice line, each with its share of the quantity."""
    period, customer, charge_name = parse_line_id(line)
    d = store.dialect
    tiers = store.query(
        f"SELECT max(plan_tier) AS t, count(*) AS n FROM {d.final('events')} "
        f"WHERE customer_id = {d.literal(customer)} AND {period.where('started_at', d.literal)}"
    )
    if not tiers or not tiers[0]["n"]:
        raise InvoiceError(f"customer {customer!r} has no events in {period.label}")
    plan = plans.plan_for(customer, tiers[0]["t"], period.start)
    if plan is None:
        raise InvoiceError(f"no plan applies to customer {customer!r} in {period.label}")
    charge = next((c for c in plan.charges if c.name == charge_name), None)
    if charge is None:
        names = [c.name for c in plan.charges]
        raise InvoiceError(f"plan {plan.version} has no charge {charge_name!r}; its charges: {names}")
    sql = behind_sql(d, charge, period, customer)
    rows = store.query(sql + (f" LIMIT {int(limit)}" if limit else ""))
    for r in rows:
        if "event_uuid" in r:
            r["id"] = restore_event_id(r.pop("event_uuid"), r.pop("event_id"))
    return {"line_id": line, "plan": plan.version, "metric": charge.metric, "rows": rows}
