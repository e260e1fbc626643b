"""Numbers the ledger can hold: a decimal beyond its column's range is refused here, naming the field.

The ledger stores money per event as DECIMAL(18,12), cost-line amounts as
DECIMAL(38,12) and quantities as DECIMAL(38,9). A larger value would fail the
whole batch at insert time, so validation refuses it with the field's name; a
value with more decimal places than the column keeps is rounded half-even to
the column's scale (below a pico-dollar), the same rounding the store applies.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

EVENT_COST = (18, 12)
AMOUNT = (38, 12)
QUANTITY = (38, 9)

_WIDE = Context(prec=80)


def ledger_decimal(value: Decimal | None, column: tuple[int, int]) -> Decimal | None:
    """``value`` if the column ``(precision, scale)`` holds it (rounded to its scale), else ValueError."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    precision, scale = column
    limit = Decimal(10 ** (precision - scale))
    if abs(value) >= limit:
        raise ValueError(f"{value} is too large: the ledger keeps values below {limit:,}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -scale:
        return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN, context=_WIDE)
    return value
