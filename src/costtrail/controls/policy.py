"""Model policy: which models a workflow or feature may call, and at what price.

A call outside a policy is rejected, rerouted to a named model, or allowed
with an alert, as the policy's ``action`` says. Prices per million tokens come
from the same :class:`~costtrail.pricing.Pricer` that prices events.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from costtrail.controls.alerts import Alert, AlertDispatcher
from costtrail.controls.config import ModelPolicyConfig
from costtrail.controls.gate import ALLOW, Decision, RequestContext
from costtrail.controls.periods import Clock, as_utc, utc_now
from costtrail.pricing import Pricer
from costtrail.schema import Event

MTOK = 1_000_000


class UnitPrices:
    """Input and output USD per million tokens of a model, cached per (provider, model, day)."""

    def __init__(self, pricer: Pricer | None = None) -> None:
        self.pricer = pricer or Pricer()
        self._cache: dict[tuple[str | None, str, str], tuple[Decimal | None, Decimal | None]] = {}
        self._lock = threading.Lock()

    def per_mtok(
        self, provider: str | None, model: str, at: datetime
    ) -> tuple[Decimal | None, Decimal | None]:
        key = (provider, model, at.date().isoformat())
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        # A million tokens in one request lands in the highest context tier, so this is an upper bound.
        inp = self.pricer.price(Event(provider=provider, model=model, input_tokens=MTOK, started_at=at))
        out = self.pricer.price(Event(provider=provider, model=model, output_tokens=MTOK, started_at=at))
        value = (None if inp.unpriced else inp.cost_usd, None if out.unpriced else out.cost_usd)
        with self._lock:
            self._cache[key] = value
        return value


def violation(
    policy: ModelPolicyConfig, provider: str | None, model: str, prices: UnitPrices, at: datetime
) -> str | None:
    """Why ``model`` breaks ``policy`` (``None`` when it complies)."""
    if policy.allowed_models is not None and not any(
        fnmatch.fnmatchcase(model.lower(), p.lower()) for p in policy.allowed_models
    ):
        return f"model {model!r} is not in the allowed models {list(policy.allowed_models)}"
    if policy.max_input_usd_per_mtok is None and policy.max_output_usd_per_mtok is None:
        return None
    inp, out = prices.per_mtok(provider, model, at)
    if inp is None or out is None:
        return f"model {model!r} has no known price, so it cannot be checked against the price cap"
    if policy.max_input_usd_per_mtok is not None and inp > policy.max_input_usd_per_mtok:
        return f"model {model!r} costs ${inp}/Mtok input, above the cap ${policy.max_input_usd_per_mtok}"
    if policy.max_output_usd_per_mtok is not None and out > policy.max_output_usd_per_mtok:
        return f"model {model!r} costs ${out}/Mtok output, above the cap ${policy.max_output_usd_per_mtok}"
    return None


def applies(scope: dict[str, str], values: dict[str, str | None]) -> bool:
    return all(values.get(k) == v for k, v in scope.items())


class ModelPolicyGate:
    """A :class:`~costtrail.controls.gate.RequestGate` that applies model policies before a call."""

    def __init__(
        self,
        policies: Sequence[ModelPolicyConfig],
        *,
        prices: UnitPrices | None = None,
        clock: Clock = utc_now,
        alerts: AlertDispatcher | None = None,
    ) -> None:
        self.policies = list(policies)
        self.prices = prices or UnitPrices()
        self.clock = clock
        self.alerts = alerts

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        if not ctx.model or not self.policies:
            return ALLOW
        now = as_utc(self.clock())
        values = {
            k: getattr(ctx, k)
            for k in (
                "environment",
                "tenant_id",
                "customer_id",
                "feature",
                "workflow",
                "team",
                "provider_account",
            )
        }
        for policy in self.policies:
            if not applies(policy.scope, values):
                continue
            why = violation(policy, ctx.provider, ctx.model, self.prices, now)
            if why is None:
                continue
            self._alert(policy, ctx, why, now)
            if policy.action == "reject":
                return Decision(
                    allowed=False,
                    reason=f"model policy {policy.name!r}: {why}",
                    rule=policy.name,
                    scope=dict(policy.scope),
                    kind="model_policy",
                )
            if policy.action == "reroute":
                return Decision(
                    allowed=True,
                    reason=f"model policy {policy.name!r}: {why}",
                    rule=policy.name,
                    scope=dict(policy.scope),
                    kind="model_policy",
                    reroute_model=policy.reroute_to,
                )
        return ALLOW

    def _alert(self, policy: ModelPolicyConfig, ctx: RequestContext, why: str, now: datetime) -> None:
        if self.alerts is None:
            return
        self.alerts.emit(
            policy_alert(
                policy,
                ctx.model or "",
                why,
                now,
                {"workflow": ctx.workflow, "feature": ctx.feature, "run_id": ctx.run_id},
            )
        )

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None:
        return None


def policy_alert(
    policy: ModelPolicyConfig, model: str, why: str, now: datetime, evidence: dict[str, object]
) -> Alert:
    """The alert for calls outside a policy (one per policy and model per cooldown)."""
    return Alert(
        kind="model_policy",
        key=f"model_policy:{policy.name}:{model}",
        severity="warning",
        title=f"model policy {policy.name!r}: {model} used outside policy",
        message=f"{why}; action {policy.action}" + (f" to {policy.reroute_to}" if policy.reroute_to else ""),
        scope=dict(policy.scope),
        evidence={"policy": policy.name, "model": model, "action": policy.action, **evidence},
        raised_at=now,
    )
