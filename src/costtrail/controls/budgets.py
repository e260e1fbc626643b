"""The budget gate: spend tracked in memory, reservations for in-flight requests.

Spend of the current period is read from the ledger once per budget when the
gate starts (:class:`~costtrail.controls.spend.StoreSpend`); afterwards every
request only touches in-memory counters under one lock. A request is admitted
when, for every matching ``block`` budget::

    committed = spent + reserved           # reserved: estimates of in-flight requests
    committed < limit  and  committed + estimate <= limit

so a budget is *exhausted* exactly when ``spent + reserved >= limit`` (the
same ``>=`` is used by ``costtrail budgets``, pacing and alerts). Overspend
happens only when a call costs more than its estimate; see docs/controls.md
for the bound.

With a shared :class:`~costtrail.controls.budget_store.BudgetStore` (Redis:
``costtrail gateway --budget-store redis://...``) the counters live there
instead, so N gateways enforce one budget with the same bound; the local
counters then mirror what the store last said (for status and alerts).
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.controls.alerts import Alert, AlertDispatcher
from costtrail.controls.budget_store import BudgetStore, BudgetStoreUnavailable, Hold, from_units, to_units
from costtrail.controls.config import BudgetConfig
from costtrail.controls.gate import ALLOW, Decision, RequestContext
from costtrail.controls.periods import Clock, as_utc, period_bounds, utc_now
from costtrail.controls.spend import SpendSource
from costtrail.schema.amounts import MICRO, ZERO

log = logging.getLogger(__name__)

ROLLING_BUCKETS = 60
DEFAULT_LEASE_SECONDS = 120.0
# Counters of a period are kept this long past its end in a shared store (late settlements).
_KEEP_AFTER_PERIOD_S = 2 * 86400


def amount_text(value: Decimal, unit: str = "usd") -> str:
    """An amount for people: dollars to the micro-dollar, trailing zeros dropped down to cents
    (``1.00``, ``0.072964``); tokens as whole numbers."""
    if unit != "usd":
        return str(value.to_integral_value())
    text = format(value.quantize(MICRO), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


class _Tracker:
    """One budget's counters (not thread-safe; :class:`BudgetGate` holds the lock)."""

    def __init__(self, config: BudgetConfig, now: datetime, source: SpendSource | None) -> None:
        self.config = config
        self.limit = config.limit
        self.blocks = config.action == "block"
        self.usd = config.unit == "usd"
        self.rolling = config.period == "rolling"
        self.reserved = ZERO
        self.spent = ZERO
        self.alerted: set[int] = set()
        self.next_alert = self._next_alert()
        self.exhausted_alerted = False
        if self.rolling:
            self.width = max(config.window_delta / ROLLING_BUCKETS, timedelta(seconds=1))
            self.buckets: deque[list[Any]] = deque()  # [bucket index, amount]
            self.start, self.end = now - config.window_delta, now
            self._load_rolling(now, source)
        else:
            self.start, self.end = period_bounds(config.period, now)
            if source is not None:
                self.spent = source.spend_in_buckets(config.scope, config.unit, [self.start, self.end])[0]

    def _next_alert(self) -> Decimal | None:
        """The spend at which the next threshold alert is due (checked on every settle, so kept cheap)."""
        pending = [p for p in self.config.thresholds if p not in self.alerted]
        return self.limit * min(pending) / 100 if pending else None

    def _index(self, at: datetime) -> int:
        return math.floor(at.timestamp() / self.width.total_seconds())

    def _load_rolling(self, now: datetime, source: SpendSource | None) -> None:
        if source is None:
            return
        current = self._index(now)
        first = current - ROLLING_BUCKETS + 1
        w = self.width.total_seconds()
        edges = [datetime.fromtimestamp((first + i) * w, tz=now.tzinfo) for i in range(ROLLING_BUCKETS + 1)]
        for i, amount in enumerate(source.spend_in_buckets(self.config.scope, self.config.unit, edges)):
            if amount:
                self.buckets.append([first + i, amount])
                self.spent += amount

    def roll(self, now: datetime) -> None:
        """Move to the period containing ``now`` (a new calendar period starts at zero)."""
        if self.rolling:
            oldest = self._index(now) - ROLLING_BUCKETS + 1
            while self.buckets and self.buckets[0][0] < oldest:
                self.spent -= self.buckets.popleft()[1]
            self.start, self.end = now - self.config.window_delta, now
        elif now >= self.end or now < self.start:
            self.start, self.end = period_bounds(self.config.period, now)
            self.spent = ZERO
            self.reserved = ZERO
            self.alerted.clear()
            self.next_alert = self._next_alert()
            self.exhausted_alerted = False

    def add(self, amount: Decimal, now: datetime) -> None:
        self.spent += amount
        if self.rolling:
            idx = self._index(now)
            if self.buckets and self.buckets[-1][0] == idx:
                self.buckets[-1][1] += amount
            else:
                self.buckets.append([idx, amount])

    def retry_after(self, now: datetime) -> int:
        if not self.rolling:
            return max(1, math.ceil((self.end - now).total_seconds()))
        if not self.buckets:
            return 1
        leaves = datetime.fromtimestamp(
            (self.buckets[0][0] + ROLLING_BUCKETS) * self.width.total_seconds(), tz=now.tzinfo
        )
        return max(1, math.ceil((leaves - now).total_seconds()))

    def exhausted(self) -> bool:
        return self.spent + self.reserved >= self.limit

    def shared_key(self) -> str:
        """This budget in this period, as a shared store names it."""
        return f"{self.config.name}:{self.start.isoformat()}"

    def keep_seconds(self, now: datetime) -> int:
        return max(1, math.ceil((self.end - now).total_seconds())) + _KEEP_AFTER_PERIOD_S


@dataclass
class _Reservation:
    entries: list[tuple[_Tracker, Decimal, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class BudgetStatus:
    """One budget at a moment: what ``costtrail budgets`` prints."""

    name: str
    scope: dict[str, str]
    period: str
    unit: str
    action: str
    owner: str | None
    period_start: datetime
    period_end: datetime
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    remaining: Decimal
    utilization: float
    burn_per_hour: Decimal
    projected_exhaustion: datetime | None
    exhausted: bool

    def as_row(self) -> dict[str, Any]:
        return {
            "budget": self.name,
            "scope": ", ".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "(all)",
            "period": self.period,
            "action": self.action,
            "limit": self.limit,
            "spent": self.spent,
            "remaining": self.remaining,
            "used_pct": round(self.utilization * 100, 1),
            "burn_per_hour": self.burn_per_hour,
            "exhausts_at": self.projected_exhaustion,
            "status": "EXHAUSTED" if self.exhausted else "ok",
            "unit": self.unit,
            "owner": self.owner,
        }


class BudgetGate:
    """A :class:`~costtrail.controls.gate.RequestGate` enforcing budgets in memory.

    >>> from costtrail.controls.config import BudgetConfig
    >>> gate = BudgetGate([BudgetConfig(name="dev", scope={"environment": "dev"}, limit_usd=1)])
    >>> d = gate.reserve(RequestContext(environment="dev"), Decimal("0.60"))
    >>> gate.settle(d, Decimal("0.70"))
    >>> gate.reserve(RequestContext(environment="dev"), Decimal("0.40")).allowed
    False
    """

    def __init__(
        self,
        budgets: Sequence[BudgetConfig],
        *,
        source: SpendSource | None = None,
        clock: Clock = utc_now,
        alerts: AlertDispatcher | None = None,
        shared: BudgetStore | None = None,
        fail_closed: bool = False,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.clock = clock
        self.alerts = alerts
        self.shared = shared
        self.fail_closed = fail_closed
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._reservations: dict[str, _Reservation] = {}
        now = as_utc(clock())
        self._trackers = [_Tracker(b, now, source) for b in budgets]
        if shared is not None:
            self._seed(shared, now)
        # Index by the set of scope fields, then by their values: one dict lookup per
        # distinct field set instead of a scan of every budget.
        self._everything = [t for t in self._trackers if not t.config.scope]
        groups: dict[tuple[str, ...], dict[Any, list[_Tracker]]] = {}
        for t in self._trackers:
            keys = tuple(sorted(t.config.scope))
            if keys:
                # attrgetter returns a bare value for one field and a tuple for several.
                values = t.config.scope[keys[0]] if len(keys) == 1 else tuple(t.config.scope[k] for k in keys)
                groups.setdefault(keys, {}).setdefault(values, []).append(t)
        self._index = [(operator.attrgetter(*keys), by_values) for keys, by_values in groups.items()]

    def _seed(self, shared: BudgetStore, now: datetime) -> None:
        """Start each budget from the ledger's period spend, unless another process already has."""
        for t in self._trackers:
            if t.rolling:
                raise ValueError(
                    f"budget {t.config.name!r}: a rolling window cannot be kept in a shared budget store; "
                    "use period: day, week or month"
                )
            try:
                stored = shared.seed(t.shared_key(), to_units(t.spent, t.usd), t.keep_seconds(now))
            except BudgetStoreUnavailable as exc:
                log.warning("%s; budget %r starts from the ledger's spend", exc, t.config.name)
                continue
            t.spent = from_units(stored, t.usd)

    def _match(self, ctx: RequestContext) -> list[_Tracker]:
        found = list(self._everything)
        for get, by_values in self._index:
            hit = by_values.get(get(ctx))
            if hit:
                found.extend(hit)
        return found

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        """Admit (and reserve the estimate against every matching budget) or deny with the budget named."""
        trackers = self._match(ctx)
        if not trackers:
            return ALLOW
        if ctx.unpriced:
            blocking = next((t for t in trackers if t.blocks and t.usd), None)
            if blocking is not None:
                return _unpriced_denial(blocking.config, ctx)
        tokens = Decimal(ctx.estimated_tokens or 0)
        now = as_utc(self.clock())
        if self.shared is not None:
            return self._reserve_shared(self.shared, trackers, estimated_cost, tokens, now)
        denied: Decision | None = None
        rid: str | None = None
        with self._lock:
            for t in trackers:
                t.roll(now)
                if not t.blocks:
                    continue
                amount = estimated_cost if t.usd else tokens
                committed = t.spent + t.reserved
                if committed >= t.limit or committed + amount > t.limit:
                    denied = self._denial(t, now, amount)
                    break
            if denied is None:
                rid = str(next(self._ids))
                res = _Reservation()
                for t in trackers:
                    amount = estimated_cost if t.usd else tokens
                    t.reserved += amount
                    res.entries.append((t, amount, t.start))
                self._reservations[rid] = res
            alert = self._exhausted_alert(denied, trackers, now) if denied else None
        if alert is not None and self.alerts is not None:
            self.alerts.emit(alert)
        return denied or Decision(allowed=True, reservation_id=rid)

    def _reserve_shared(
        self, shared: BudgetStore, trackers: list[_Tracker], cost: Decimal, tokens: Decimal, now: datetime
    ) -> Decision:
        """Reserve in the shared store: all budgets have room and are held, or the request is denied."""
        amounts = [cost if t.usd else tokens for t in trackers]
        rid = uuid.uuid4().hex  # unique across processes: the store keys holds by it
        with self._lock:
            for t in trackers:
                t.roll(now)
            holds = [
                Hold(
                    t.shared_key(),
                    to_units(t.limit, t.usd),
                    to_units(a, t.usd),
                    t.blocks,
                    t.keep_seconds(now),
                )
                for t, a in zip(trackers, amounts, strict=True)
            ]
            starts = [t.start for t in trackers]
        try:
            admission = shared.reserve(rid, holds, self.lease_seconds)
        except BudgetStoreUnavailable as exc:
            return self._unavailable(exc, trackers, now)
        denied: Decision | None = None
        alert: Alert | None = None
        with self._lock:
            for t, spent, reserved in zip(trackers, admission.spent, admission.reserved, strict=True):
                t.spent, t.reserved = from_units(spent, t.usd), from_units(reserved, t.usd)
            if admission.denied is not None:
                t = trackers[admission.denied]
                denied = self._denial(t, now, amounts[admission.denied])
                alert = self._exhausted_alert(denied, trackers, now)
            else:
                entries = list(zip(trackers, amounts, starts, strict=True))
                self._reservations[rid] = _Reservation(entries)
        if alert is not None and self.alerts is not None:
            self.alerts.emit(alert)
        return denied or Decision(allowed=True, reservation_id=rid)

    def _unavailable(self, exc: BudgetStoreUnavailable, trackers: list[_Tracker], now: datetime) -> Decision:
        """The shared store is down: admit unchecked (fail-open) or deny (fail-closed), with an alert."""
        blocking = [t for t in trackers if t.blocks]
        if self.alerts is not None:
            self.alerts.emit(
                Alert(
                    kind="budget_store_unavailable",
                    key="budget_store_unavailable",
                    severity="critical",
                    title="the shared budget store is unreachable",
                    message=(
                        f"{exc}: requests are "
                        + ("denied (fail-closed)" if self.fail_closed else "admitted unchecked (fail-open)")
                    ),
                    scope={},
                    evidence={"budgets": [t.config.name for t in trackers], "fail_closed": self.fail_closed},
                    raised_at=now,
                )
            )
        if not self.fail_closed or not blocking:
            return ALLOW
        t = blocking[0]
        return Decision(
            allowed=False,
            reason=f"budget {t.config.name!r} cannot be checked: the shared budget store is unreachable "
            "(this gateway is fail-closed)",
            rule=t.config.name,
            limit_usd=t.limit,
            spend_usd=t.spent + t.reserved,
            scope=dict(t.config.scope),
            retry_after_s=1,
            kind="budget",
            unit=t.config.unit,
        )

    def _denial(self, t: _Tracker, now: datetime, amount: Decimal) -> Decision:
        cfg = t.config
        committed = t.spent + t.reserved
        unit = "$" if cfg.unit == "usd" else ""
        suffix = "" if cfg.unit == "usd" else " tokens"
        state = (
            "is exhausted"
            if committed >= t.limit
            else f"has no room for this request (~{unit}{amount_text(amount, cfg.unit)}{suffix})"
        )
        scope = ", ".join(f"{k}={v}" for k, v in sorted(cfg.scope.items())) or "all traffic"
        return Decision(
            allowed=False,
            reason=(
                f"budget {cfg.name!r} {state}: spend {unit}{amount_text(committed, cfg.unit)}{suffix} "
                f"of limit {unit}{amount_text(t.limit, cfg.unit)}{suffix} "
                f"({cfg.period} budget, scope {scope})"
            ),
            rule=cfg.name,
            limit_usd=t.limit,
            spend_usd=committed,
            scope=dict(cfg.scope),
            retry_after_s=t.retry_after(now),
            kind="budget",
            unit=cfg.unit,
        )

    def _exhausted_alert(self, denied: Decision, trackers: list[_Tracker], now: datetime) -> Alert | None:
        t = next(t for t in trackers if t.config.name == denied.rule)
        if t.exhausted_alerted:
            return None
        t.exhausted_alerted = True
        return Alert(
            kind="budget_blocked",
            key=f"budget_blocked:{t.config.name}:{t.start.isoformat()}",
            severity="critical",
            title=f"budget {t.config.name!r} is blocking requests",
            message=denied.reason,
            scope=dict(t.config.scope),
            evidence={
                "budget": t.config.name,
                "limit": t.limit,
                "spend": denied.spend_usd,
                "unit": t.config.unit,
                "period_start": t.start,
                "period_end": t.end,
                "owner": t.config.owner,
            },
            raised_at=now,
        )

    def settle(
        self, decision: Decision, actual_cost: Decimal | None, actual_tokens: int | None = None
    ) -> None:
        """Replace the reservation by the actual cost (``None``: the call did not run; release it).

        A token budget counts ``actual_tokens``; without it, its reserved estimate stands.
        """
        if decision.reservation_id is None:
            return
        now = as_utc(self.clock())
        if self.shared is not None:
            self._settle_shared(self.shared, decision.reservation_id, actual_cost, actual_tokens, now)
            return
        with self._lock:
            res = self._reservations.pop(decision.reservation_id, None)
            if res is None:
                return
            fired: list[Alert] = []
            for t, amount, start in res.entries:
                t.roll(now)
                same_period = t.rolling or t.start == start
                if same_period:
                    t.reserved -= amount
                if actual_cost is None and actual_tokens is None:
                    continue
                if t.usd:
                    actual = actual_cost
                else:
                    actual = Decimal(actual_tokens) if actual_tokens is not None else amount
                if actual is not None and same_period:
                    t.add(actual, now)
                    fired.extend(self._threshold_alerts(t, now))
        if self.alerts is not None:
            for a in fired:
                self.alerts.emit(a)

    def _settle_shared(
        self, shared: BudgetStore, rid: str, cost: Decimal | None, tokens: int | None, now: datetime
    ) -> None:
        with self._lock:
            res = self._reservations.pop(rid, None)
        if res is None:
            return
        keys: list[str] = []
        actual: list[int | None] = []
        for t, amount, start in res.entries:
            keys.append(f"{t.config.name}:{start.isoformat()}")
            if cost is None and tokens is None:
                actual.append(None)
            elif t.usd:
                actual.append(None if cost is None else to_units(cost, True))
            else:
                actual.append(to_units(Decimal(tokens) if tokens is not None else amount, False))
        try:
            spent = shared.settle(rid, keys, actual)
        except BudgetStoreUnavailable as exc:
            # The hold expires with its lease; this call's spend reaches the budget through the ledger
            # at the next start (seed) only.
            log.warning("%s: spend of reservation %s not counted in the shared budget", exc, rid)
            return
        fired: list[Alert] = []
        with self._lock:
            for (t, _, start), units in zip(res.entries, spent, strict=True):
                t.roll(now)
                if t.start == start:
                    t.spent = from_units(units, t.usd)
                    fired.extend(self._threshold_alerts(t, now))
        if self.alerts is not None:
            for a in fired:
                self.alerts.emit(a)

    def record(self, ctx: RequestContext, cost: Decimal | None, tokens: int = 0) -> None:
        """Count spend that did not pass through :meth:`reserve` (e.g. events recorded by the SDK)."""
        now = as_utc(self.clock())
        fired: list[Alert] = []
        with self._lock:
            for t in self._match(ctx):
                t.roll(now)
                amount = cost if t.usd else Decimal(tokens)
                if amount:
                    t.add(amount, now)
                    fired.extend(self._threshold_alerts(t, now))
        if self.alerts is not None:
            for a in fired:
                self.alerts.emit(a)

    def _threshold_alerts(self, t: _Tracker, now: datetime) -> Iterable[Alert]:
        if t.next_alert is None or t.spent < t.next_alert:
            return ()
        used = t.spent / t.limit * 100
        crossed = [p for p in t.config.thresholds if used >= p and p not in t.alerted]
        if not crossed:
            return ()
        t.alerted.update(crossed)
        t.next_alert = t._next_alert()
        top = max(crossed)
        cfg = t.config
        return (
            Alert(
                kind="budget_threshold",
                key=f"budget_threshold:{cfg.name}:{'rolling' if t.rolling else t.start.isoformat()}:{top}",
                severity="critical" if top >= 100 else "warning",
                title=f"budget {cfg.name!r} at {used:.0f}% of its {cfg.period} limit",
                message=(
                    f"budget {cfg.name!r} ({cfg.action}) has used {amount_text(t.spent, cfg.unit)} of "
                    f"{amount_text(t.limit, cfg.unit)} {cfg.unit} "
                    f"({used:.1f}%), past the {top}% threshold"
                ),
                scope=dict(cfg.scope),
                evidence={
                    "budget": cfg.name,
                    "threshold_pct": top,
                    "spent": t.spent,
                    "limit": t.limit,
                    "unit": cfg.unit,
                    "period_start": t.start,
                    "owner": cfg.owner,
                },
                raised_at=now,
            ),
        )

    def status(self) -> list[BudgetStatus]:
        """Every budget now: spend, remaining, burn rate and projected exhaustion time."""
        now = as_utc(self.clock())
        out = []
        with self._lock:
            for t in self._trackers:
                t.roll(now)
            keys = [t.shared_key() for t in self._trackers]
        if self.shared is not None and keys:
            try:
                totals = self.shared.totals(keys)
            except BudgetStoreUnavailable as exc:
                log.warning("%s: budget status from this process's last view", exc)
            else:
                with self._lock:
                    for t, (spent, reserved) in zip(self._trackers, totals, strict=True):
                        t.spent, t.reserved = from_units(spent, t.usd), from_units(reserved, t.usd)
        with self._lock:
            for t in self._trackers:
                out.append(_status(t, now))
        return out

    @property
    def budgets(self) -> list[BudgetConfig]:
        return [t.config for t in self._trackers]

    def in_flight(self) -> int:
        """Reservations not yet settled."""
        return len(self._reservations)


def _status(t: _Tracker, now: datetime) -> BudgetStatus:
    cfg = t.config
    used = t.spent + t.reserved
    remaining = max(ZERO, t.limit - used)
    if t.rolling:
        hours = Decimal(cfg.window_delta.total_seconds()) / 3600
    else:
        hours = Decimal(max((now - t.start).total_seconds(), 1.0)) / 3600
    burn = (t.spent / hours).quantize(MICRO) if hours else ZERO
    exhausted = used >= t.limit
    projected: datetime | None = None
    if exhausted:
        projected = now
    elif burn > 0:
        projected = now + timedelta(hours=float(remaining / burn))
        if not t.rolling and projected >= t.end:
            projected = None  # not at this rate within the period
    return BudgetStatus(
        name=cfg.name,
        scope=dict(cfg.scope),
        period=cfg.period if not t.rolling else f"rolling {cfg.window}",
        unit=cfg.unit,
        action=cfg.action,
        owner=cfg.owner,
        period_start=t.start,
        period_end=t.end,
        limit=t.limit,
        spent=t.spent,
        reserved=t.reserved,
        remaining=remaining,
        utilization=float(used / t.limit),
        burn_per_hour=burn,
        projected_exhaustion=projected,
        exhausted=exhausted,
    )


def _unpriced_denial(cfg: BudgetConfig, ctx: RequestContext) -> Decision:
    """No price for the model: reserving $0 would let a USD budget admit any number of such calls."""
    model = ctx.model or "(none named)"
    scope = ", ".join(f"{k}={v}" for k, v in sorted(cfg.scope.items())) or "all traffic"
    return Decision(
        allowed=False,
        reason=(
            f"model {model!r} (provider {ctx.provider or 'unknown'}) has no price, so budget "
            f"{cfg.name!r} (scope {scope}) cannot bound this call: map an Azure deployment to its "
            "model (azure_deployments / --azure-deployments) or add a rate-card entry for the model"
        ),
        rule=cfg.name,
        limit_usd=cfg.limit_usd,
        scope=dict(cfg.scope),
        kind="unpriced_model",
    )
