"""Billing: price plans applied to the ledger, customer invoices whose lines lead back to events.

>>> from costtrail.billing import PricePlans
>>> plans = PricePlans.from_yaml(
...     "plans: [{name: pro, charges: [{name: usage, metric: cost, markup_pct: 20}]}]"
... )
>>> plans.plans[0].charges[0].unit_multiplier
Decimal('1.2')
"""

from costtrail.billing.charges import Priced, TierSlice, price
from costtrail.billing.invoice import (
    Invoice,
    InvoiceError,
    InvoiceLine,
    InvoiceRun,
    line_rows,
    parse_line_id,
    preview,
)
from costtrail.billing.plans import Charge, Plan, PlanError, PricePlans, Tier, load_plans, metric_names

__all__ = [
    "Charge",
    "Invoice",
    "InvoiceError",
    "InvoiceLine",
    "InvoiceRun",
    "Plan",
    "PlanError",
    "PricePlans",
    "Priced",
    "Tier",
    "TierSlice",
    "line_rows",
    "load_plans",
    "metric_names",
    "parse_line_id",
    "preview",
    "price",
]
