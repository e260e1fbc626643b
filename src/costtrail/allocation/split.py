"""Splitting an amount by weights so the parts add up exactly (largest remainder, deterministic)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

MAX_SCALE = 12  # the ledger's amount scale


def quantum_for(amount: Decimal) -> Decimal:
    """The unit to split in: a cent, or the amount's own finer digits (up to 12 places)."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent if isinstance(exponent, int) else 2)
    return Decimal(1).scaleb(-min(places, MAX_SCALE))


def split_amount(amount: Decimal, weights: Sequence[Decimal], keys: Sequence[str]) -> list[Decimal]:
    """Parts of ``amount`` proportional to ``weights`` that sum to exactly ``amount``.

    Each part is floored to the quantum; the quanta left over go one each to the
    largest remainders, ties broken by ``keys`` (sorted), so the result never
    depends on input order or on chance.

    >>> split_amount(Decimal("10.00"), [Decimal(1)] * 3, ["a", "b", "c"])
    [Decimal('3.34'), Decimal('3.33'), Decimal('3.33')]
    """
    if len(weights) != len(keys):
        raise ValueError("weights and keys must have the same length")
    total = sum(weights, Decimal(0))
    if not weights or total <= 0:
        raise ValueError("at least one positive weight is needed to split an amount")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    quantum = quantum_for(amount)
    units = int((amount / quantum).to_integral_value())
    exact = [Decimal(units) * w / total for w in weights]
    floors = [int(x.to_integral_value(rounding=ROUND_FLOOR)) for x in exact]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), keys[i]))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(n) * quantum for n in floors]
