"""The request-path check: what a gateway or SDK asks before a call is sent.

The gateway (and the SDK's opt-in enforcement) call :meth:`RequestGate.reserve`
before forwarding, with the request's attribution and an estimated cost; a
denial becomes HTTP 429. After the call, :meth:`RequestGate.settle` replaces
the reservation with the actual cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class RequestContext:
    """Who a request is for: the attribution dimensions plus provider and model."""

    provider: str | None = None
    model: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    feature: str | None = None
    customer_id: str | None = None
    tenant_id: str | None = None
    environment: str | None = None
    team: str | None = None
    provider_account: str | None = None
    # For token budgets: the request's estimated tokens (input + max output); cost budgets ignore it.
    estimated_tokens: int | None = None
    # The estimate found no price for the model: a blocking USD budget cannot bound the call, so it
    # denies it (docs/controls.md) instead of reserving $0.
    unpriced: bool = False


@dataclass(frozen=True)
class Decision:
    """Allow, or deny with the budget or policy that said no."""

    allowed: bool
    reason: str = ""
    rule: str | None = None  # budget or policy name
    limit_usd: Decimal | None = None
    spend_usd: Decimal | None = None
    scope: dict[str, str] = field(default_factory=dict)
    retry_after_s: int | None = None
    reroute_model: str | None = None  # a model policy may reroute instead of deny
    reservation_id: str | None = None
    # What said no (or rerouted): "budget", "unpriced_model", "model_policy" or "retry_loop"; a
    # gateway may map them to different responses (429 by default; 403 for "unpriced_model").
    kind: str | None = None
    unit: str = "usd"  # "usd" or "tokens": what limit_usd/spend_usd count for a token budget

    def error_body(self) -> dict[str, object]:
        """The JSON error a gateway returns for a denial: names the rule, its limit, spend and scope."""
        return {
            "type": "budget_exceeded" if self.kind in (None, "budget") else self.kind,
            "message": self.reason,
            "rule": self.rule,
            "limit": None if self.limit_usd is None else str(self.limit_usd),
            "spend": None if self.spend_usd is None else str(self.spend_usd),
            "unit": self.unit,
            "scope": dict(self.scope),
            "retry_after_s": self.retry_after_s,
        }


ALLOW = Decision(allowed=True)


class BudgetExceeded(RuntimeError):
    """A call was stopped before it was sent: ``decision`` names the budget, limit, spend and scope."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason or f"budget {decision.rule!r} exceeded")
        self.decision = decision


class RequestGate(Protocol):
    """Asked before a call is sent (:meth:`reserve`) and told what it cost after (:meth:`settle`).

    ``settle(decision, None)`` releases a reservation whose call never ran or cost nothing known.
    """

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision: ...

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None: ...


class AllowAll:
    """The gate used when no budgets or policies are configured."""

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        return ALLOW

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None:
        return None
