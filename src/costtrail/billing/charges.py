"""Pricing one measured quantity by one charge: allowance, tiers or volume breaks, markup.

Exact Decimal arithmetic throughout; a line's amount is rounded to the cent
(half up) once, after its tiers are summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from costtrail.billing.plans import Charge
from costtrail.schema.amounts import CENT


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class TierSlice:
    """The part of a billable quantity priced at one tier."""

    tier: int
    first: Decimal
    last: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "from": self.first,
            "up_to": self.last,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "amount": self.amount,
        }


@dataclass(frozen=True)
class Priced:
    """A charge applied to a quantity: what is billable, at what price, for how much."""

    quantity: Decimal
    included: Decimal
    billable: Decimal
    unit_price: Decimal | None
    per: Decimal
    amount: Decimal
    slices: tuple[TierSlice, ...]


def price(charge: Charge, quantity: Decimal) -> Priced:
    """The amount for ``quantity`` units of ``charge``'s metric in one period.

    >>> from costtrail.billing.plans import Charge
    >>> c = Charge(name="out", metric="output_tokens", unit_price=Decimal("12"), per=Decimal(1000000),
    ...            included=Decimal(1000000))
    >>> price(c, Decimal(3500000)).amount
    Decimal('30.00')
    """
    included = min(quantity, charge.included)
    billable = quantity - included
    if not charge.tiers:
        exact = billable * charge.unit_multiplier
        flat = charge.unit_price if charge.unit_price is not None else charge.unit_multiplier
        return Priced(quantity, included, billable, flat, charge.per, to_cents(exact), ())
    slices = _volume(charge, billable) if charge.tier_mode == "volume" else _graduated(charge, billable)
    unit = slices[0].unit_price if len(slices) == 1 else None
    total = to_cents(sum((s.amount for s in slices), Decimal(0)))
    return Priced(quantity, included, billable, unit, charge.per, total, tuple(slices))


def _graduated(charge: Charge, billable: Decimal) -> list[TierSlice]:
    out, first = [], Decimal(0)
    for n, tier in enumerate(charge.tiers, start=1):
        last = tier.up_to
        top = billable if last is None else min(billable, last)
        qty = max(Decimal(0), top - first)
        if qty or n == 1:
            out.append(TierSlice(n, first, last, qty, tier.unit_price, qty * tier.unit_price / charge.per))
        if last is None or billable <= last:
            break
        first = last
    return out


def _volume(charge: Charge, billable: Decimal) -> list[TierSlice]:
    first = Decimal(0)
    for n, tier in enumerate(charge.tiers, start=1):
        if tier.up_to is None or billable <= tier.up_to:
            amount = billable * tier.unit_price / charge.per
            return [TierSlice(n, first, tier.up_to, billable, tier.unit_price, amount)]
        first = tier.up_to
    raise AssertionError("the last tier has no up_to")  # validated in Charge
