"""Prepaid credits: a customer's balance, spent at the plan's price, enforced in the request path.

A credits file holds each customer's prepaid balance and when it was set::

    credits:
      acme: {balance_usd: "1.00", as_of: 2026-11-01T00:00:00Z}

:class:`CreditGate` is a request gate (the gateway's and the SDK's, beside the budgets):
a call for a customer with credit is admitted only while what it used since ``as_of``,
plus what in-flight calls reserved, plus this call's estimate stays within the balance.
Amounts are at the price the customer pays: the ledger cost times the multiplier of the
cost-plus charge of the customer's plan (``markup_pct: 25`` -> x1.25), not at cost. At
80% of the balance the gate raises one alert; at zero it denies, naming the balance (the
gateway answers 429 with the message). As with budgets, a call can overrun only by what it
costs beyond its estimate.

Given a shared :class:`~costtrail.controls.budget_store.BudgetStore` (the gateway's
``--budget-store redis://...``), each balance is a budget in that store, one per customer
and ``as_of`` (a new balance starts a new one): every gateway spends the same balance, and
the bound stays that of one gateway whatever the number of processes. The process whose
call carries the balance past 80% raises the alert.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costtrail.billing.plans import PricePlans
from costtrail.controls.budget_store import BudgetStore, BudgetStoreUnavailable, Hold, from_units, to_units
from costtrail.controls.budgets import DEFAULT_LEASE_SECONDS
from costtrail.controls.gate import ALLOW, Decision, RequestContext
from costtrail.ledger.store import LedgerStore
from costtrail.schema.yaml_source import ExactLoader, describe_errors, parse_mapping, read_source

ALERT_AT = Decimal("0.8")
KEEP_SECONDS = 400 * 86_400  # a balance's counters outlive any use of it in a shared store
log = logging.getLogger(__name__)


class CreditsError(ValueError):
    """A credits file or balance that cannot be used; the message names the file, line and field."""


class Credit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    balance_usd: Decimal = Field(ge=0)
    as_of: datetime

    def since(self) -> datetime:
        return self.as_of if self.as_of.tzinfo else self.as_of.replace(tzinfo=UTC)


class Credits(BaseModel):
    """Every customer's prepaid balance (a credits file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    credits: dict[str, Credit] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Credits:
        p = Path(path)
        if not p.exists():
            return cls()
        text = read_source(p, CreditsError, "credits file")
        node, data = parse_mapping(text, str(p), CreditsError, "a credits file is a mapping (credits: ...)",
                                   loader=ExactLoader)  # fmt: skip
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise CreditsError(
                describe_errors(exc, data, node, str(p), title="invalid credits file", default="credits")
            ) from exc

    def with_balance(self, customer: str, balance: Decimal, now: datetime) -> Credits:
        """A copy with ``customer``'s balance set to ``balance`` from ``now`` on."""
        if balance < 0:
            raise CreditsError(f"a balance is at least 0 (got {balance})")
        return Credits(credits={**self.credits, customer: Credit(balance_usd=balance, as_of=now)})

    def save(self, path: str | Path) -> None:
        data = {
            "credits": {
                c: {"balance_usd": str(v.balance_usd), "as_of": v.since().isoformat()}
                for c, v in sorted(self.credits.items())
            }
        }
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def price_multiplier(plans: PricePlans, customer: str, plan_tier: str | None, when: datetime) -> Decimal:
    """What one USD of ledger cost costs ``customer``: its plan's cost-plus charge's multiplier."""
    plan = plans.plan_for(customer, plan_tier, when)
    if plan is None:
        raise CreditsError(
            f"customer {customer!r} has credit but no plan: name it in a plan or set default_plan"
        )
    charge = next((c for c in plan.charges if c.metric == "cost" and not c.tiers and not c.where), None)
    if charge is None:
        raise CreditsError(
            f"plan {plan.version} has no cost-plus charge (metric: cost with markup_pct or unit_price): "
            "credits in the request path are spent at the plan's price of the ledger cost"
        )
    return charge.unit_multiplier


@dataclass
class _Account:
    customer: str
    balance: Decimal
    multiplier: Decimal
    used: Decimal
    reserved: Decimal = Decimal(0)
    alerted: bool = False
    key: str = ""
    """The balance's name in a shared budget store."""


class CreditGate:
    """Admits a customer's calls while its prepaid balance lasts (see the module's docstring)."""

    def __init__(
        self,
        accounts: Mapping[str, tuple[Decimal, Decimal, Decimal]],
        on_alert: Callable[[str], None] | None = None,
        *,
        shared: BudgetStore | None = None,
        keys: Mapping[str, str] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        fail_closed: bool = False,
    ) -> None:
        """``accounts``: customer -> (balance, price multiplier, already used at the plan's price).

        ``shared``: keep the balances in this budget store, each under ``keys[customer]``
        (seeded with what was used, unless another process has); ``lease_seconds``: how long a
        hold outlives a process that never settles it; ``fail_closed``: deny while the store is
        unreachable (else admit unchecked).
        """
        self._accounts = {c: _Account(c, b, m, u) for c, (b, m, u) in accounts.items()}
        self._on_alert = on_alert
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._held: dict[str, tuple[_Account, Decimal]] = {}
        self.shared, self.lease_seconds, self.fail_closed = shared, lease_seconds, fail_closed
        if shared is not None:
            for a in self._accounts.values():
                a.key = (keys or {}).get(a.customer) or f"credit:{a.customer}"
                try:
                    a.used = from_units(shared.seed(a.key, to_units(a.used, True), KEEP_SECONDS), True)
                except BudgetStoreUnavailable as exc:
                    log.warning("%s; the credit of %s starts from the ledger's use", exc, a.customer)

    @classmethod
    def build(
        cls,
        credits: Credits,
        plans: PricePlans,
        store: LedgerStore | None = None,
        on_alert: Callable[[str], None] | None = None,
        now: datetime | None = None,
        **shared_options: Any,
    ) -> CreditGate:
        """The gate for every customer in ``credits``; with ``store``, what each used since its
        balance was set is read from the ledger (its priced cost there, at the plan's price).
        ``shared_options``: ``shared``, ``lease_seconds``, ``fail_closed`` (see ``__init__``)."""
        now = now or datetime.now(UTC)
        accounts = {}
        for customer, credit in credits.credits.items():
            tier, cost = (
                _usage_since(store, customer, credit.since()) if store is not None else (None, Decimal(0))
            )
            multiplier = price_multiplier(plans, customer, tier, now)
            accounts[customer] = (credit.balance_usd, multiplier, cost * multiplier)
        keys = {c: f"credit:{c}:{v.since().isoformat()}" for c, v in credits.credits.items()}
        return cls(accounts, on_alert, keys=keys, **shared_options)

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        account = self._accounts.get(ctx.customer_id or "")
        if account is None:
            return ALLOW
        price = estimated_cost * account.multiplier
        if self.shared is not None:
            return self._reserve_shared(self.shared, account, price)
        with self._lock:
            committed = account.used + account.reserved
            if committed >= account.balance or committed + price > account.balance:
                return self._denial(account, committed, price)
            account.reserved += price
            rid = f"credit-{next(self._ids)}"
            self._held[rid] = (account, price)
        return Decision(allowed=True, reservation_id=rid, kind="credit", rule=f"credit:{account.customer}")

    def _reserve_shared(self, shared: BudgetStore, account: _Account, price: Decimal) -> Decision:
        rid = uuid.uuid4().hex  # unique across processes: the store keys holds by it
        hold = Hold(account.key, to_units(account.balance, True), to_units(price, True), True, KEEP_SECONDS)
        try:
            admission = shared.reserve(rid, [hold], self.lease_seconds)
        except BudgetStoreUnavailable as exc:
            log.warning("%s: the credit of %s is not checked", exc, account.customer)
            if not self.fail_closed:
                return ALLOW
            return Decision(
                allowed=False,
                kind="credit",
                rule=f"credit:{account.customer}",
                reason=f"customer {account.customer}'s prepaid credit cannot be checked: the shared "
                "budget store is unreachable (this gateway is fail-closed)",
                limit_usd=account.balance,
                scope={"customer_id": account.customer},
                retry_after_s=1,
            )
        with self._lock:
            account.used = from_units(admission.spent[0], True)
            account.reserved = from_units(admission.reserved[0], True)
            if admission.denied is not None:
                return self._denial(account, account.used + account.reserved, price)
            self._held[rid] = (account, price)
        return Decision(allowed=True, reservation_id=rid, kind="credit", rule=f"credit:{account.customer}")

    def _settle_shared(self, shared: BudgetStore, rid: str, actual_cost: Decimal | None) -> None:
        with self._lock:
            held = self._held.pop(rid, None)
        if held is None:
            return
        account, _ = held
        charged = None if actual_cost is None else to_units(actual_cost * account.multiplier, True)
        try:
            (spent,) = shared.settle(rid, [account.key], [charged])
        except BudgetStoreUnavailable as exc:
            log.warning("%s: the use of reservation %s is not counted in the shared credit", exc, rid)
            return
        self._counted_shared(account, spent, charged)

    def _counted_shared(self, account: _Account, spent: int, charged: int | None) -> None:
        alert_at = to_units(account.balance * ALERT_AT, True)
        with self._lock:
            account.used = from_units(spent, True)
        # Only the call that carried the balance past the threshold alerts, whichever process made it.
        if charged and spent - charged < alert_at <= spent:
            self._alert(account)

    def _alert(self, account: _Account) -> None:
        if self._on_alert is not None:
            self._on_alert(
                f"customer {account.customer} has used {int(ALERT_AT * 100)}% of its prepaid credit: "
                f"${_money(account.used)} of ${_money(account.balance)}"
            )

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None:
        if decision.reservation_id is None:
            return
        if self.shared is not None:
            self._settle_shared(self.shared, decision.reservation_id, actual_cost)
            return
        with self._lock:
            held = self._held.pop(decision.reservation_id, None)
            if held is None:
                return
            account, reserved = held
            account.reserved -= reserved
        if actual_cost is not None:
            self._count(account, actual_cost)

    def record(self, ctx: RequestContext, cost: Decimal | None) -> None:
        """Count a call that did not pass through :meth:`reserve` (an event the SDK recorded)."""
        account = self._accounts.get(ctx.customer_id or "")
        if account is None or not cost:
            return
        if self.shared is None:
            self._count(account, cost)
            return
        charged = to_units(cost * account.multiplier, True)
        try:  # a settlement of no hold only adds the spend
            (spent,) = self.shared.settle(uuid.uuid4().hex, [account.key], [charged])
        except BudgetStoreUnavailable as exc:
            log.warning("%s: a call of %s is not counted in the shared credit", exc, account.customer)
            return
        self._counted_shared(account, spent, charged)

    def _count(self, account: _Account, cost: Decimal) -> None:
        with self._lock:
            account.used += cost * account.multiplier
            crossed = not account.alerted and account.used >= account.balance * ALERT_AT
            if crossed:
                account.alerted = True
        if crossed:
            self._alert(account)

    def status(self) -> list[dict[str, Any]]:
        if self.shared is not None:
            accounts = list(self._accounts.values())
            totals = self.shared.totals([a.key for a in accounts])
            with self._lock:
                for a, (spent, reserved) in zip(accounts, totals, strict=True):
                    a.used, a.reserved = from_units(spent, True), from_units(reserved, True)
        with self._lock:
            return [
                {
                    "customer_id": a.customer,
                    "balance": a.balance,
                    "used": a.used,
                    "reserved": a.reserved,
                    "remaining": a.balance - a.used,
                    "price_multiplier": a.multiplier,
                }
                for a in self._accounts.values()
            ]

    def _denial(self, account: _Account, committed: Decimal, price: Decimal) -> Decision:
        left = max(Decimal(0), account.balance - committed)
        return Decision(
            allowed=False,
            kind="credit",
            rule=f"credit:{account.customer}",
            reason=(
                f"customer {account.customer}'s prepaid credit is used up: "
                f"balance ${_money(account.balance)}, ${_money(left)} left, "
                f"this call would cost up to ${_money(price)} at the plan's price; "
                "top it up with costtrail credits set"
            ),
            limit_usd=account.balance,
            spend_usd=committed,
            scope={"customer_id": account.customer},
            retry_after_s=3600,
        )


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")).normalize(), "f") if value else "0"


def _usage_since(store: LedgerStore, customer: str, since: datetime) -> tuple[str | None, Decimal]:
    d = store.dialect
    rows = store.query(
        f"SELECT max(plan_tier) AS tier, sum(CASE WHEN NOT unpriced THEN cost_usd END) AS cost "
        f"FROM {d.final('events')} WHERE customer_id = {d.literal(customer)} "
        f"AND started_at >= {d.literal(since)}"
    )
    row = rows[0] if rows else {}
    cost = row.get("cost")
    return row.get("tier"), cost if isinstance(cost, Decimal) else Decimal(cost or 0)
