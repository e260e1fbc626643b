"""Putting the controls together: one gate for the gateway or SDK, built from a controls file.

>>> from costtrail.controls.config import ControlsConfig
>>> controls = build_controls(ControlsConfig.from_yaml("budgets: [{name: all, limit_usd: 1}]"))
>>> controls.gate.reserve(RequestContext(), Decimal("2")).allowed
False
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from costtrail.controls.alerts import AlertDispatcher, AlertSink, LedgerAlertSink, LogSink
from costtrail.controls.budget_store import BudgetStore
from costtrail.controls.budgets import DEFAULT_LEASE_SECONDS, BudgetGate
from costtrail.controls.config import ControlsConfig
from costtrail.controls.estimate import CostEstimator
from costtrail.controls.gate import ALLOW, Decision, RequestContext, RequestGate
from costtrail.controls.periods import Clock, utc_now
from costtrail.controls.policy import ModelPolicyGate, UnitPrices
from costtrail.controls.runloop import RunLoopGuard
from costtrail.controls.spend import StoreSpend
from costtrail.controls.webhook import WebhookSink
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer


class ChainGate:
    """Asks each gate in order; the first denial wins and earlier reservations are released.

    A reroute from a model policy is carried on the final decision (``reroute_model``).
    """

    def __init__(self, gates: Sequence[RequestGate]) -> None:
        self.gates = list(gates)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._held: dict[str, list[tuple[RequestGate, Decision]]] = {}

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        held: list[tuple[RequestGate, Decision]] = []
        reroute: Decision | None = None
        for gate in self.gates:
            d = gate.reserve(ctx, estimated_cost)
            if not d.allowed:
                for g, prior in held:
                    g.settle(prior, None)
                return d
            if d.reroute_model:
                reroute = d
            if d.reservation_id is not None:
                held.append((gate, d))
        if not held and reroute is None:
            return ALLOW
        rid: str | None = None
        if held:
            with self._lock:
                rid = f"c{next(self._ids)}"
                self._held[rid] = held
        if reroute is None:
            return Decision(allowed=True, reservation_id=rid)
        return replace(reroute, reservation_id=rid)

    def settle(
        self, decision: Decision, actual_cost: Decimal | None, actual_tokens: int | None = None
    ) -> None:
        if decision.reservation_id is None:
            return
        with self._lock:
            held = self._held.pop(decision.reservation_id, [])
        for gate, d in held:
            if isinstance(gate, BudgetGate):
                gate.settle(d, actual_cost, actual_tokens)
            else:
                gate.settle(d, actual_cost)


def budget_gate_of(gate: RequestGate) -> BudgetGate | None:
    """The :class:`BudgetGate` inside a gate (itself, or one link of a :class:`ChainGate`)."""
    if isinstance(gate, BudgetGate):
        return gate
    if isinstance(gate, ChainGate):
        return next((g for g in gate.gates if isinstance(g, BudgetGate)), None)
    return None


@dataclass
class Controls:
    """What a gateway, collector or SDK needs: the gate, the budgets, the alerts and an estimator."""

    config: ControlsConfig
    gate: RequestGate
    budgets: BudgetGate
    alerts: AlertDispatcher
    estimator: CostEstimator

    def close(self) -> None:
        self.alerts.close()


def build_alerts(
    config: ControlsConfig,
    store: LedgerStore | None = None,
    *,
    clock: Clock = utc_now,
    extra_sinks: Sequence[AlertSink] = (),
) -> AlertDispatcher:
    """The dispatcher for a controls file's ``alerts:`` section (ledger sink only with a store)."""
    sinks: list[AlertSink] = []
    ledger: LedgerAlertSink | None = None
    if config.alerts.log:
        sinks.append(LogSink())
    if config.alerts.ledger and store is not None:
        ledger = LedgerAlertSink(store)
        sinks.append(ledger)
    for hook in config.alerts.webhooks:
        sinks.append(WebhookSink(hook.url, format=hook.format, timeout_s=hook.timeout_s))
    sinks.extend(extra_sinks)
    return AlertDispatcher(
        sinks, cooldown=timedelta(minutes=config.alerts.cooldown_minutes), clock=clock, history=ledger
    )


def build_controls(
    config: ControlsConfig,
    store: LedgerStore | None = None,
    *,
    clock: Clock = utc_now,
    pricer: Pricer | None = None,
    alerts: AlertDispatcher | None = None,
    shared: BudgetStore | None = None,
    fail_closed: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> Controls:
    """Build the request gate (model policy, retry-loop guard, budgets) from a controls file.

    With a ``store``, each budget's spend so far in its period is loaded once, and
    alerts also go to the ledger's ``alerts`` table. With a ``shared`` budget store the
    budgets' counters live there (seeded from the ledger's spend unless another process
    has), and an unreachable store admits (or with ``fail_closed``, denies) with an alert.
    """
    dispatcher = alerts or build_alerts(config, store, clock=clock)
    prices = UnitPrices(pricer)
    budgets = BudgetGate(
        config.budgets,
        source=StoreSpend(store) if store is not None else None,
        clock=clock,
        alerts=dispatcher,
        shared=shared,
        fail_closed=fail_closed,
        lease_seconds=lease_seconds,
    )
    gates: list[RequestGate] = []
    if config.model_policies:
        gates.append(ModelPolicyGate(config.model_policies, prices=prices, clock=clock, alerts=dispatcher))
    if config.guardrails.retry_loop.enabled:
        gates.append(RunLoopGuard(config.guardrails.retry_loop, clock=clock, alerts=dispatcher))
    gates.append(budgets)
    gate: RequestGate = gates[0] if len(gates) == 1 else ChainGate(gates)
    return Controls(config, gate, budgets, dispatcher, CostEstimator(prices))
