"""A cost the instrumentation reported on the span (``gen_ai.usage.cost.*``), kept next to costtrail's own.

A USD amount becomes the event's ``cost_usd`` with ``cost_source=reported``
(the envelope's rule for a cost the sender states); costtrail's own price of
the same usage is kept in the ``computed_cost_usd`` attribute so the two can be
compared. An amount in another currency, or with no currency, is never summed
as dollars: it is flagged in ``reported_cost_ignored`` and costtrail prices the
call itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from costtrail.otlp.attributes import COST_AMOUNT, COST_CURRENCY
from costtrail.pricing import Pricer
from costtrail.schema import Event

REPORTED_AMOUNT = "reported_cost_amount"
REPORTED_CURRENCY = "reported_cost_currency"
REPORTED_IGNORED = "reported_cost_ignored"
COMPUTED_COST = "computed_cost_usd"
COMPUTED_REF = "computed_price_ref"
COMPUTED_UNPRICED = "computed_cost_unpriced"


def apply_reported_cost(fields: dict[str, Any], attrs: Mapping[str, Any]) -> None:
    """Set ``cost_usd`` from a USD ``gen_ai.usage.cost.amount``; flag any other currency."""
    amount = attrs.get(COST_AMOUNT)
    if amount in (None, ""):
        return
    currency = str(attrs.get(COST_CURRENCY) or "").strip().upper()
    noted = fields.setdefault("attributes", {})
    noted[REPORTED_AMOUNT] = str(amount)
    noted[REPORTED_CURRENCY] = currency
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        noted[REPORTED_IGNORED] = f"{COST_AMOUNT} is not a number"
        return
    if not value.is_finite() or value < 0:
        noted[REPORTED_IGNORED] = f"{COST_AMOUNT} must be a finite, non-negative amount"
    elif not currency:
        noted[REPORTED_IGNORED] = f"no {COST_CURRENCY}: send 'USD' to keep the reported cost"
    elif currency != "USD":
        noted[REPORTED_IGNORED] = f"{COST_CURRENCY} '{currency}' is not USD: costtrail's own price is used"
    elif "cost_usd" not in fields:  # an explicit costtrail.cost_usd wins
        fields["cost_usd"] = value
        fields["cost_source"] = "reported"


def add_own_prices(records: Sequence[dict[str, Any]], pricer: Pricer) -> None:
    """Put costtrail's own price next to each reported cost (``computed_cost_usd`` attribute)."""
    for record in records:
        if record.get("cost_usd") is None:
            continue
        try:
            event = Event.parse({k: v for k, v in record.items() if k not in ("cost_usd", "cost_source")})
        except ValidationError:
            continue  # the batch reports the problem with the field named
        price = pricer.price(event)
        noted = record.setdefault("attributes", {})
        if price.cost_usd is None:
            noted[COMPUTED_UNPRICED] = price.reason or "no price"
        else:
            noted[COMPUTED_COST] = str(price.cost_usd)
            noted[COMPUTED_REF] = price.price_ref or ""
