"""Where budget counters live when several processes enforce one budget.

A :class:`~costtrail.controls.budgets.BudgetGate` keeps each budget's spend
and in-flight reservations in its own memory by default: one gateway, one
budget. Given a :class:`BudgetStore` instead, every gateway (and anything else
spending against the same budgets, such as prepaid customer credits) shares
the counters, and the bound on overspend is the single-gateway bound whatever
the number of processes.

The contract a store keeps:

* amounts are integers (:func:`to_units`: nano-dollars, or tokens), exact;
* :meth:`BudgetStore.reserve` is atomic over all the holds of one request:
  every enforced budget has room and all are reserved, or none is;
* a hold expires after its lease unless settled first, so a process killed
  mid-request frees the budget it held;
* :meth:`BudgetStore.settle` releases a hold (if still held) and adds the actual
  spend, even after the lease expired: the call happened;
* an unreachable store raises :class:`BudgetStoreUnavailable`; the gate then
  fails open or closed as configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

NANO = Decimal("1e9")


class BudgetStoreUnavailable(RuntimeError):
    """The shared budget store cannot be reached (the gate then fails open or closed)."""


@dataclass(frozen=True)
class Hold:
    """One budget's part in a reservation: ``key`` names the budget and its period."""

    key: str
    limit: int
    amount: int
    enforce: bool
    """Deny the request when this budget has no room (a ``block`` budget); else only count."""
    keep_seconds: int
    """How long the counters are kept (past the period's end)."""


@dataclass(frozen=True)
class Admission:
    """The answer to a reservation: ``denied`` is the index of the hold without room."""

    allowed: bool
    denied: int | None
    spent: tuple[int, ...]
    reserved: tuple[int, ...]
    """Each hold's budget before this request (reserved: live holds of other requests)."""


class BudgetStore(Protocol):
    """Shared budget counters (see the module's contract)."""

    def seed(self, key: str, spent: int, keep_seconds: int) -> int:
        """Set a budget's spend unless another process has; returns the stored spend."""
        ...

    def reserve(self, reservation: str, holds: Sequence[Hold], lease_seconds: float) -> Admission: ...

    def settle(self, reservation: str, keys: Sequence[str], actual: Sequence[int | None]) -> list[int]:
        """Release the reservation's holds and add each actual amount; returns each budget's spend."""
        ...

    def totals(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        """(spent, reserved) of each budget, expired holds released first."""
        ...

    def close(self) -> None: ...


def to_units(amount: Decimal, usd: bool) -> int:
    """An amount as store units: nano-dollars rounded up (a reservation never under-holds), or tokens."""
    if usd:
        return int((amount * NANO).to_integral_value(rounding=ROUND_CEILING))
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def from_units(units: int, usd: bool) -> Decimal:
    return Decimal(units) / NANO if usd else Decimal(units)
