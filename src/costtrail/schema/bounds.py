"""Values the ledger can hold and read back: anything else is refused here, naming the field.

The ledger stores money per event as DECIMAL(18,12), cost-line amounts as
DECIMAL(38,12) and quantities as DECIMAL(38,9). A larger value would fail the
whole batch at insert time, so validation refuses it with the field's name; a
value with more decimal places than the column keeps is rounded half-even to
the column's scale (below a pico-dollar), the same rounding the store applies.
The bound is checked after that rounding (999999.9999999999999 rounds up to
1,000,000, which the column cannot hold).

The other bounds keep what is stored readable (docs/reliability.md):

- times are UTC instants from 1970-01-01 to 2999-12-31 (an offset time near
  year 1 or 9999 has no UTC value a reader can hold);
- counts (tokens, requests, bytes, retries) are whole numbers, not booleans,
  from 0 to 2**53 - 1 (exact in every JSON reader; sums of them stay far
  inside the 128-bit totals reports use);
- ``latency_ms`` is finite, from 0 to 10**15 (sums and averages stay finite);
- ``unpriced`` is a JSON boolean (``"yes"`` is not read as true).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict

EVENT_COST = (18, 12)
AMOUNT = (38, 12)
QUANTITY = (38, 9)

_WIDE = Context(prec=80)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive
MAX_COUNT = 2**53 - 1
MAX_LATENCY_MS = 1e15


def ledger_time(value: datetime) -> datetime:
    """``value`` in UTC (naive is taken as UTC) if within the ledger's range, else ValueError."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"{value.isoformat()} is outside the ledger's range: send a time from 1970-01-01 to "
            "2999-12-31 in UTC (ISO 8601 with an offset, or epoch seconds)"
        )
    return utc


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    return value


def _countable(value: int) -> int:
    if value > MAX_COUNT:
        raise ValueError(f"too large: the ledger keeps whole numbers up to {MAX_COUNT:,} (2**53 - 1)")
    return value


LedgerTime = Annotated[datetime, AfterValidator(ledger_time)]
"""A time the ledger stores and reads back (UTC, 1970 to 2999)."""

Count = Annotated[int, BeforeValidator(_whole_number), Field(ge=0), AfterValidator(_countable)]
"""A count of tokens, requests, bytes or retries: 0 to 2**53 - 1, never a boolean."""

LatencyMs = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)]
"""A finite duration in milliseconds."""

StrictFlag = Annotated[bool, Strict()]
"""A JSON ``true``/``false`` only."""


def ledger_decimal(value: Decimal | None, column: tuple[int, int]) -> Decimal | None:
    """``value`` if the column ``(precision, scale)`` holds it (rounded to its scale), else ValueError."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    precision, scale = column
    limit = Decimal(10 ** (precision - scale))
    exponent = value.as_tuple().exponent
    if abs(value) < limit and isinstance(exponent, int) and exponent < -scale:
        value = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN, context=_WIDE)
    if abs(value) >= limit:
        raise ValueError(f"{value} is too large: the ledger keeps values below {limit:,}")
    return value
