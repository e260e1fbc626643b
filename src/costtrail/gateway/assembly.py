"""The gateway's request gate and everything it opens, built from ``costtrail gateway``'s options.

:class:`GatewayGate` is one object that owns what the gate reads: the shared
budget store (in this process, or Redis), and the ledger the budgets' and the
credits' spend so far is read from (and budget alerts written to).
:func:`costtrail.gateway.server.serve` closes it when the gateway stops, as it
closes the sink. A bad option raises :class:`GateOptionError` naming the option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from costtrail.billing import PlanError, PricePlans
from costtrail.billing.credits import CreditGate, Credits, CreditsError
from costtrail.controls import ControlsConfig, ControlsConfigError, build_controls
from costtrail.controls.budget_store import BudgetStore
from costtrail.controls.chain import ChainGate
from costtrail.controls.gate import RequestGate
from costtrail.ledger import open_store
from costtrail.ledger.store import LedgerStore

SHARED_SCHEMES = ("redis://", "rediss://", "unix://")


class GateOptionError(ValueError):
    """An option the gate cannot be built from; ``option`` names it (e.g. ``--controls``)."""

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class GateOptions:
    """What the gateway enforces before forwarding: budgets and policies, prepaid credits."""

    controls: Path | None = None  # budgets, model policies, guardrails (docs/controls.md)
    credits: Path | None = None  # prepaid credit per customer, spent at the plans' price
    plans: Path | None = None
    budget_store: str | None = None  # redis://HOST:PORT/DB: counters shared by N gateways
    spend_from: str | None = None  # ledger URL each budget's and balance's spend so far is read from
    fail_closed: bool = False  # deny while the shared budget store is unreachable
    lease_seconds: float = 120.0  # how long a shared hold outlives a gateway that never settles it


def _say_nothing(_message: str) -> None:
    return None


@dataclass
class GatewayGate:
    """The request gate with the budget store and the ledger it opened; :meth:`close` closes both."""

    gate: RequestGate | None = None
    shared: BudgetStore | None = None
    ledger: LedgerStore | None = None
    _closed: bool = field(default=False, init=False, repr=False)

    @classmethod
    def open(
        cls,
        options: GateOptions,
        *,
        notice: Callable[[str], None] = _say_nothing,
        on_alert: Callable[[str], None] = _say_nothing,
    ) -> GatewayGate:
        """Open what ``options`` ask for and build the gate; on a bad option close what was opened."""
        parts = cls()
        try:
            parts.shared = _shared_store(options)
            if options.spend_from and (options.controls is not None or options.credits is not None):
                parts.ledger = open_store(options.spend_from)
            parts.gate = parts._budgets(options, notice)
            if options.credits is not None:
                parts.gate = parts._with_credits(options.credits, options, on_alert)
        except BaseException:
            parts.close()
            raise
        return parts

    def _budgets(self, options: GateOptions, notice: Callable[[str], None]) -> RequestGate | None:
        """With a ledger each budget starts from the spend already recorded in its period; without
        one it counts from the gateway's start. With a budget store, every gateway pointed at it
        shares the budgets' counters."""
        if options.controls is None:
            return None
        try:
            config = ControlsConfig.load(options.controls)
        except ControlsConfigError as exc:
            raise GateOptionError(str(exc), "--controls") from exc
        if self.ledger is None:
            notice(
                "budgets count spend from now: give --ledger or --spend-from to start from the ledger's spend"
            )
        try:
            controls = build_controls(
                config,
                self.ledger,
                shared=self.shared,
                fail_closed=options.fail_closed,
                lease_seconds=options.lease_seconds,
            )
        except ValueError as exc:
            raise GateOptionError(str(exc), "--budget-store") from exc
        return controls.gate

    def _with_credits(
        self, credits: Path, options: GateOptions, on_alert: Callable[[str], None]
    ) -> RequestGate:
        """The budgets' gate followed by the customers' prepaid credit (used since each balance was
        set, from the ledger when there is one; kept in the shared budget store when there is one)."""
        if options.plans is None:
            raise GateOptionError("credits are spent at the plan's price: give --plans", "--plans")
        try:
            credit_gate = CreditGate.build(
                Credits.load(credits),
                PricePlans.load(options.plans),
                self.ledger,
                on_alert=on_alert,
                shared=self.shared,
                fail_closed=options.fail_closed,
                lease_seconds=options.lease_seconds,
            )
        except (PlanError, CreditsError) as exc:
            raise GateOptionError(str(exc), "--credits") from exc
        return ChainGate([self.gate, credit_gate]) if self.gate is not None else credit_gate

    def close(self) -> None:
        """Close the budget store and the ledger (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.shared is not None:
                self.shared.close()
        finally:
            if self.ledger is not None:
                self.ledger.close()

    def __enter__(self) -> GatewayGate:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _shared_store(options: GateOptions) -> BudgetStore | None:
    """The shared budget store both the budgets and the credits keep their counters in."""
    if not options.budget_store:
        return None
    if options.controls is None and options.credits is None:
        raise GateOptionError(
            "a budget store needs budgets or credits: give --controls or --credits", "--budget-store"
        )
    if not options.budget_store.startswith(SHARED_SCHEMES):
        raise GateOptionError(
            f"{options.budget_store!r}: use redis://HOST:PORT/DB (or rediss:// for TLS)", "--budget-store"
        )
    from costtrail.controls.redis_budget import RedisBudgetStore  # imports redis only when asked

    try:
        return RedisBudgetStore(options.budget_store)
    except ValueError as exc:
        raise GateOptionError(str(exc), "--budget-store") from exc
