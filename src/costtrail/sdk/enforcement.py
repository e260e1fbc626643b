"""Budgets in the SDK: ``costtrail.check_budget()`` and the opt-in mode that stops a call before it is sent.

>>> import costtrail
>>> from costtrail.controls.config import ControlsConfig
>>> recorder = costtrail.configure(ledger=":memory:", environment="dev")
>>> hook = costtrail.enforce_budgets(ControlsConfig.from_yaml("budgets: [{name: dev, limit_usd: 5}]"))
>>> costtrail.check_budget(environment="dev").allowed
True
>>> costtrail.shutdown()

With enforcement on, each instrumented ``openai``/``anthropic``/``google-genai``/Bedrock call first asks
the budgets with an upper-bound estimate (request size and ``max_tokens``) and
raises :class:`~costtrail.controls.gate.BudgetExceeded` instead of sending when a
``block`` budget has no room; every recorded event is then priced on the
caller's thread and counted against the budgets. The SDK checks admission but
holds no reservation across the call: concurrent calls in one process can
together overrun a budget by the calls in flight. Hard limits under concurrency
belong in the gateway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from costtrail.controls.chain import Controls, build_controls
from costtrail.controls.config import ControlsConfig
from costtrail.controls.gate import ALLOW, BudgetExceeded, Decision, RequestContext
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.schema import Event
from costtrail.sdk.context import current_attribution
from costtrail.sdk.recorder import Recorder
from costtrail.wire import request_tool_uses

if TYPE_CHECKING:
    from costtrail.billing.credits import CreditGate

log = logging.getLogger("costtrail.sdk")


def request_context(
    attribution: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    estimated_tokens: int | None = None,
    *,
    unpriced: bool = False,
) -> RequestContext:
    def text(name: str) -> str | None:
        value = attribution.get(name)
        return None if value is None else str(value)

    return RequestContext(
        provider=provider,
        model=model,
        workflow=text("workflow"),
        run_id=text("run_id"),
        feature=text("feature"),
        customer_id=text("customer_id"),
        tenant_id=text("tenant_id"),
        environment=text("environment"),
        team=text("team"),
        provider_account=text("provider_account"),
        estimated_tokens=estimated_tokens,
        unpriced=unpriced,
    )


class BudgetHook:
    """Asks the controls before a call and counts each recorded event against the budgets."""

    def __init__(
        self,
        controls: Controls,
        *,
        raise_before_send: bool = True,
        pricer: Pricer | None = None,
        credits: CreditGate | None = None,
    ) -> None:
        self.controls = controls
        self.raise_before_send = raise_before_send
        self.pricer = pricer or Pricer()
        self.credits = credits

    def check(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        """Would a call of this cost fit now, in the budgets and the customer's prepaid credit?
        (Reserves and releases at once: nothing is held.)"""
        for gate in (self.controls.gate, self.credits):
            if gate is None:
                continue
            decision = gate.reserve(ctx, estimated_cost)
            gate.settle(decision, None)
            if not decision.allowed:
                return decision
        return ALLOW

    def before_send(self, provider: str, kwargs: Mapping[str, Any], attribution: Mapping[str, Any]) -> None:
        if not self.raise_before_send:
            return
        body_bytes = len(json.dumps(kwargs, default=str))
        estimate = self.controls.estimator.estimate_body(provider, kwargs, body_bytes=body_bytes)
        model = kwargs.get("model") if isinstance(kwargs.get("model"), str) else None
        # No price for the model: a USD budget in scope denies the call rather than reserve $0.
        unpriced = estimate.cost_usd is None
        ctx = request_context(attribution, provider, model, estimate.tokens, unpriced=unpriced)
        cost = estimate.cost_usd or Decimal(0)
        if model and not unpriced:
            cost += self._tool_fees(provider, model, kwargs)
        decision = self.check(ctx, cost)
        if not decision.allowed:
            raise BudgetExceeded(decision)

    def _tool_fees(self, provider: str, model: str, kwargs: Mapping[str, Any]) -> Decimal:
        """The fees of the searches a request foresees (a web search tool), at the event's prices."""
        uses = request_tool_uses(kwargs)
        if not uses:
            return Decimal(0)
        parts = self.pricer.components(Event(provider=provider, model=model, **uses))
        return sum((fee for name, fee in parts.items() if name != "model"), Decimal(0))

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count a recorded event's cost (priced here unless it carries a reported cost)."""
        try:
            parsed = Event.parse(dict(event))
            if parsed.cost_usd is None:
                price = self.pricer.price(parsed)
                # An incomplete call still spent: budgets count its estimate (never a ledger total).
                parsed.cost_usd = price.cost_usd if price.cost_usd is not None else price.estimate_usd
            ctx = request_context(parsed.model_dump(), parsed.provider, parsed.model)
            self.controls.budgets.record(ctx, parsed.cost_usd, parsed.input_tokens + parsed.output_tokens)
            if self.credits is not None:
                self.credits.record(ctx, parsed.cost_usd)
        except Exception:  # counting must never break recording
            log.warning("costtrail: could not count an event against the budgets", exc_info=True)


def hook_of(recorder: Recorder | None) -> BudgetHook | None:
    """The budgets ``recorder`` enforces, if any."""
    observer = recorder.observer if recorder is not None else None
    return observer if isinstance(observer, BudgetHook) else None


def enforce_on(
    config: ControlsConfig,
    *,
    store: LedgerStore | None = None,
    raise_before_send: bool = True,
    recorder: Recorder,
    credits: CreditGate | None = None,
) -> BudgetHook:
    """Turn on budgets for ``recorder`` (``costtrail.enforce_budgets``: the configured one).

    With ``store``, each budget starts from its period's spend in that ledger.
    ``raise_before_send=False`` only counts spend (for :func:`check_budget`).
    ``credits``: the customers' prepaid credit (``CreditGate.build``), checked after the budgets
    and spent by each recorded event at the plan's price.
    """
    hook = BudgetHook(build_controls(config, store), raise_before_send=raise_before_send, credits=credits)
    recorder.observe_with(hook)  # enforcing again replaces the previous controls
    return hook


def room_for(
    estimated_cost: Decimal | str | int = 0,
    *,
    provider: str | None = None,
    model: str | None = None,
    recorder: Recorder,
    **attribution: Any,
) -> Decision:
    """Is there room for a call of ``estimated_cost`` in the current run's budgets?

    Attribution comes from the configured defaults, the current ``costtrail.run``/``step``
    and ``attribution``. Allowed when no budgets are enforced.
    """
    hook = hook_of(recorder)
    if hook is None:
        return ALLOW
    merged = {**recorder.defaults, **current_attribution(), **attribution}
    return hook.check(request_context(merged, provider, model), Decimal(str(estimated_cost)))


def check_before_send(
    recorder_ref: Callable[[], Recorder | None], provider: str, kwargs: Mapping[str, Any]
) -> None:
    """Called by an instrumented method before the request: raises BudgetExceeded when enforced and denied."""
    recorder = recorder_ref()
    hook = hook_of(recorder)
    if hook is None or recorder is None:
        return
    try:
        hook.before_send(provider, kwargs, {**recorder.defaults, **current_attribution()})
    except BudgetExceeded:
        raise
    except Exception:  # a broken check must not break the app's call
        log.warning("costtrail: the budget check failed; the call proceeds", exc_info=True)
