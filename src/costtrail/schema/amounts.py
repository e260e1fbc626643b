"""The steps money and percentages are rounded to, one of each for every package.

A cost is exact (``Decimal``); what a person reads, an alert says or a bill charges is
rounded to one of these steps, half to even unless the caller says otherwise.
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")  # one US cent: a bill's, an invoice's and a report's step
MICRO = Decimal("0.000001")  # a micro-dollar: a per-call or per-run cost, an alert's amounts
PCT = Decimal("0.01")  # hundredths of a percent point: a margin or a share in percent
