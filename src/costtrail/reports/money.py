"""How money and percentages read, everywhere a person reads them (CLI, dashboard, demo, alerts),
and how an amount leaves costtrail for machines.

For machines (JSON, CSV, the read API) one function, :func:`money_json`: a plain decimal string
at the amount's own scale, never an exponent (``"1.50000E-7"``, ``"0E-12"``), never a float;
``None`` stays ``None`` (an amount nobody priced is not zero).

For people, the rule, one for every view:

- $1 and above (either sign): to the cent, with thousands separators: ``$1,234.57``;
- under $1: four significant digits, at least two decimals, trailing zeros dropped:
  ``$0.50``, ``$0.0103``, ``$0.009696``, ``$0.0000004123``, so a smaller cost never reads
  bigger than a larger one beside it;
- exactly zero: ``$0``; a non-zero amount never reads ``$0.00``;
- never an exponent (``1E-7``), always fixed point; negative amounts as ``-$12.30``;
- rounding half to even, on the exact ``Decimal``;
- a unit price (``$1.125`` per million tokens) is a rate, not an amount: ``exact=True``
  prints every digit it has, fixed point, at least two decimals.

Percentages carry a ``%``: :func:`format_pct` for a value already in percent
(``-39.2`` -> ``-39.2%``), :func:`format_ratio` for a 0..1 ratio (``0.952`` -> ``95.2%``).

>>> format_usd(Decimal("1234.567")), format_usd(Decimal("0.009696")), format_usd(Decimal("0.0045"))
('$1,234.57', '$0.009696', '$0.0045')
>>> format_usd(Decimal("0.5")), format_usd(Decimal("0")), format_usd(Decimal("-0.01"))
('$0.50', '$0', '-$0.01')
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from costtrail.schema.amounts import CENT

SIGNIFICANT_DIGITS = 4


def format_usd(value: Decimal | int | str | None, *, missing: str = "-", exact: bool = False) -> str:
    """Dollars by the rule above; ``missing`` for None."""
    if value is None:
        return missing
    amount = Decimal(value)
    if amount == 0:
        return "$0"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if exact:
        whole, _, decimals = format(amount, ",f").partition(".")
        return f"{sign}${whole}.{decimals.rstrip('0').ljust(2, '0')}"
    if amount >= 1:
        return f"{sign}${amount.quantize(CENT, rounding=ROUND_HALF_EVEN):,}"
    # the exponent of the leading digit: 0.009696 -> -3; keep SIGNIFICANT_DIGITS from there
    places = max(2, SIGNIFICANT_DIGITS - 1 - amount.adjusted())
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if rounded >= 1:  # 0.99996 rounds up to a dollar
        return f"{sign}${rounded.quantize(CENT):,}"
    text = format(rounded, "f").rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{sign}${whole}.{decimals.ljust(2, '0')}"


def money_json(value: Decimal | None) -> str | None:
    """An exact amount as a plain decimal string at its own scale; ``None`` when unpriced.

    >>> money_json(Decimal("1.60000E-7")), money_json(Decimal("0E-12")), money_json(Decimal("2.50"))
    ('0.000000160000', '0.000000000000', '2.50')
    >>> money_json(None) is None
    True
    """
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    return format(abs(value) if value == 0 else value, "f")  # no "-0"


def format_pct(value: Decimal | float | None, *, missing: str = "-", places: int = 1) -> str:
    """A value already in percent: ``-39.2`` -> ``-39.2%``."""
    if value is None:
        return missing
    return f"{float(value):,.{places}f}%"


def format_ratio(value: Decimal | float | None, *, missing: str = "-", places: int = 1) -> str:
    """A 0..1 ratio as a percentage: ``0.952`` -> ``95.2%``."""
    if value is None:
        return missing
    return format_pct(float(value) * 100, missing=missing, places=places)
