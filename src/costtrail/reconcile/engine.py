"""Reconciliation: provider bills against telemetry, with variance, flags, coverage and confidence.

Flags, per day group:

- ``missing_telemetry``: billed, but no events (calls made outside the instrumented paths),
  summed per provider account as ``untracked_spend`` in the summary;
- ``untracked_events``: events, but no bill line (for a provider whose bill was imported);
- ``discount_not_in_rate_card``: every model of a provider/account is billed at the same ratio
  below computed (a negotiated discount the rate card lacks);
- ``stale_price``: one model billed at a consistent ratio that the provider's other models do
  not share (a price change the rate card missed, or a wrong price);
- ``cache_discount_not_reflected`` / ``batch_discount_not_reflected``: the bill has cached-input
  or batch charges that telemetry does not show;
- ``unpriced_events``: some events had no price, so computed is understated;
- ``unexplained_variance``: off by more than the tolerance with no consistent ratio.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore
from costtrail.reconcile.matching import Group, GroupKey, load_groups
from costtrail.schema import Confidence, CostLine, CostLineKind
from costtrail.schema.amounts import PCT

MISSING_TELEMETRY = "missing_telemetry"
UNTRACKED_EVENTS = "untracked_events"
DISCOUNT = "discount_not_in_rate_card"
STALE_PRICE = "stale_price"
CACHE_NOT_REFLECTED = "cache_discount_not_reflected"
BATCH_NOT_REFLECTED = "batch_discount_not_reflected"
UNPRICED = "unpriced_events"
UNEXPLAINED = "unexplained_variance"
_EXPLAINED = frozenset({DISCOUNT, STALE_PRICE, CACHE_NOT_REFLECTED, BATCH_NOT_REFLECTED})
RATIO_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Tolerance:
    """How far billed may be from computed and still match (``pct``), and how steady a ratio must be."""

    pct: Decimal = Decimal("1.0")
    ratio_spread_pct: Decimal = Decimal("2.0")


@dataclass
class ReconLine:
    """One day x provider x account x model, both sides and the verdict."""

    day: date
    provider: str
    provider_account: str | None
    model: str
    billed: Decimal | None
    computed: Decimal | None
    events: int
    flags: list[str] = field(default_factory=list)
    ratio: Decimal | None = None
    confidence: str = Confidence.HIGH.value

    @property
    def variance(self) -> Decimal:
        return (self.billed or Decimal(0)) - (self.computed or Decimal(0))

    @property
    def variance_pct(self) -> Decimal | None:
        if not self.billed:
            return None
        return (self.variance / self.billed * 100).quantize(PCT)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "provider": self.provider,
            "provider_account": self.provider_account,
            "model": self.model,
            "billed": self.billed,
            "computed": self.computed,
            "variance": self.variance,
            "variance_pct": self.variance_pct,
            "events": self.events,
            "flags": ",".join(self.flags),
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class Finding:
    """A discrepancy summed over the period for one provider/account/model."""

    flag: str
    provider: str
    provider_account: str | None
    model: str
    days: int
    billed: Decimal
    computed: Decimal
    ratio: Decimal | None

    @property
    def variance(self) -> Decimal:
        return self.billed - self.computed

    def as_dict(self) -> dict[str, Any]:
        return {
            "flag": self.flag,
            "provider": self.provider,
            "provider_account": self.provider_account,
            "model": self.model,
            "days": self.days,
            "billed": self.billed,
            "computed": self.computed,
            "variance": self.variance,
            "ratio": self.ratio,
        }


@dataclass
class Reconciliation:
    """The result for a period: lines, findings and the totals finance signs off on."""

    period: str
    lines: list[ReconLine]
    findings: list[Finding]
    unbilled_providers: dict[str, Decimal]

    @property
    def billed(self) -> Decimal:
        return sum((ln.billed or Decimal(0) for ln in self.lines), Decimal(0))

    @property
    def computed(self) -> Decimal:
        return sum((ln.computed or Decimal(0) for ln in self.lines), Decimal(0))

    @property
    def coverage_pct(self) -> Decimal:
        """Share of billed dollars in groups that telemetry also saw."""
        covered = sum((ln.billed or Decimal(0) for ln in self.lines if ln.events), Decimal(0))
        return (covered / self.billed * 100).quantize(PCT) if self.billed else Decimal(0)

    @property
    def telemetry_coverage_pct(self) -> Decimal:
        """Share of computed dollars in groups that the bill also has."""
        covered = sum((ln.computed or Decimal(0) for ln in self.lines if ln.billed is not None), Decimal(0))
        return (covered / self.computed * 100).quantize(PCT) if self.computed else Decimal(0)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = defaultdict(int)
        for ln in self.lines:
            for flag in ln.flags:
                counts[flag] += 1
        variance = self.billed - self.computed
        return {
            "period": self.period,
            "billed": self.billed,
            "computed": self.computed,
            "variance": variance,
            "variance_pct": (variance / self.billed * 100).quantize(PCT) if self.billed else None,
            "coverage_pct": self.coverage_pct,
            "telemetry_coverage_pct": self.telemetry_coverage_pct,
            "groups": len(self.lines),
            "matched_groups": sum(1 for ln in self.lines if not ln.flags),
            "flags": dict(sorted(counts.items())),
            "unbilled_providers": self.unbilled_providers,
            "untracked_spend": self.untracked_spend(),
        }

    def untracked_spend(self) -> list[dict[str, Any]]:
        """Billed usage with no telemetry, per provider and account (project, key, workspace):
        calls made outside the instrumented paths, most dollars first."""
        acc: dict[tuple[str, str | None], list[ReconLine]] = defaultdict(list)
        for ln in self.lines:
            if MISSING_TELEMETRY in ln.flags:
                acc[(ln.provider, ln.provider_account)].append(ln)
        rows = [
            {
                "provider": provider,
                "provider_account": account,
                "billed": sum((ln.billed or Decimal(0) for ln in lns), Decimal(0)),
                "days": len({ln.day for ln in lns}),
                "models": sorted({ln.model for ln in lns}),
            }
            for (provider, account), lns in acc.items()
        ]
        return sorted(rows, key=lambda r: (-r["billed"], r["provider"], r["provider_account"] or ""))


def _ratio(billed: Decimal, computed: Decimal) -> Decimal | None:
    return (billed / computed).quantize(RATIO_PLACES) if computed > 0 else None


def _close(a: Decimal, b: Decimal, pct: Decimal) -> bool:
    return abs(a - b) <= abs(b) * pct / 100


ModelKey = tuple[str, str | None, str]


def _model_ratios(groups: dict[GroupKey, Group], tol: Tolerance) -> dict[ModelKey, tuple[Decimal, bool]]:
    """Per provider/account/model: the period ratio billed/computed and whether every day shares it."""
    days: dict[ModelKey, list[Group]] = defaultdict(list)
    for g in groups.values():
        if g.billed is not None and g.computed:
            days[(g.key[1], g.key[2], g.name)].append(g)
    out: dict[ModelKey, tuple[Decimal, bool]] = {}
    for mk, gs in days.items():
        ratio = _ratio(
            sum((g.billed or Decimal(0) for g in gs), Decimal(0)),
            sum((g.computed or Decimal(0) for g in gs), Decimal(0)),
        )
        if ratio is None:
            continue
        steady = all(
            (r := _ratio(g.billed or Decimal(0), g.computed or Decimal(0))) is not None
            and _close(r, ratio, tol.ratio_spread_pct)
            for g in gs
        )
        out[mk] = (ratio, steady)
    return out


def _price_flags(ratios: dict[ModelKey, tuple[Decimal, bool]], tol: Tolerance) -> dict[ModelKey, str]:
    """Which models' steady ratios are a provider-wide discount and which a single stale price."""
    by_provider: dict[tuple[str, str | None], list[ModelKey]] = defaultdict(list)
    for mk in ratios:
        by_provider[(mk[0], mk[1])].append(mk)
    flags: dict[ModelKey, str] = {}
    for models in by_provider.values():
        off = [mk for mk in models if ratios[mk][1] and not _close(ratios[mk][0], Decimal(1), tol.pct)]
        if not off:
            continue
        first = ratios[off[0]][0]
        alike = all(_close(ratios[mk][0], first, tol.ratio_spread_pct) for mk in off)
        # A discount touches every model: none of the provider's models is billed at the computed price.
        on_price = any(_close(ratios[mk][0], Decimal(1), tol.pct) for mk in models)
        shared = alike and not on_price
        for mk in off:
            flags[mk] = DISCOUNT if shared and first < 1 else STALE_PRICE
    return flags


def _judge(g: Group, price_flag: str | None, tol: Tolerance) -> ReconLine:
    day, provider, account, _ = g.key
    line = ReconLine(day, provider, account, g.name, g.billed, g.computed, g.events)
    if g.billed is None:
        if g.computed:  # unpriced-only groups are flagged unpriced_events below, not as $0 untracked
            line.flags.append(UNTRACKED_EVENTS)
    elif not g.events:
        line.flags.append(MISSING_TELEMETRY)
    else:
        line.ratio = _ratio(g.billed, g.computed or Decimal(0))
        if g.billed_by_sku.get("cache_read") and g.cache_read_tokens == 0:
            line.flags.append(CACHE_NOT_REFLECTED)
        if g.billed_batch and g.batch_events == 0:
            line.flags.append(BATCH_NOT_REFLECTED)
        off = line.ratio is None or not _close(line.ratio, Decimal(1), tol.pct)
        if off and price_flag and not line.flags:
            line.flags.append(price_flag)
        elif off and not line.flags:
            line.flags.append(UNEXPLAINED)
    if g.unpriced:
        line.flags.append(UNPRICED)
    if not line.flags:
        line.confidence = Confidence.HIGH.value
    elif all(f in _EXPLAINED for f in line.flags):
        line.confidence = Confidence.MEDIUM.value
    else:
        line.confidence = Confidence.LOW.value
    return line


def _findings(lines: list[ReconLine], ratios: dict[ModelKey, tuple[Decimal, bool]]) -> list[Finding]:
    acc: dict[tuple[str, ModelKey], list[ReconLine]] = defaultdict(list)
    for ln in lines:
        for flag in ln.flags:
            acc[(flag, (ln.provider, ln.provider_account, ln.model))].append(ln)
    out = []
    for (flag, mk), lns in sorted(
        acc.items(), key=lambda kv: (kv[0][0], kv[0][1][0], kv[0][1][1] or "", kv[0][1][2])
    ):
        billed = sum((ln.billed or Decimal(0) for ln in lns), Decimal(0))
        computed = sum((ln.computed or Decimal(0) for ln in lns), Decimal(0))
        ratio = ratios[mk][0] if flag in _EXPLAINED and mk in ratios else None
        out.append(Finding(flag, mk[0], mk[1], mk[2], len(lns), billed, computed, ratio))
    return out


def reconcile(store: LedgerStore, period: Period, tolerance: Tolerance | None = None) -> Reconciliation:
    """Join the period's billed cost lines to its events and judge every group.

    >>> from costtrail.finance.period import Period
    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> store = DuckDBStore(":memory:")
    >>> rec = reconcile(store, Period.parse("2026-10"))
    >>> rec.findings  # nothing billed, nothing recorded
    []
    >>> store.close()
    """
    tol = tolerance or Tolerance()
    groups, unbilled = load_groups(store, period)
    ratios = _model_ratios(groups, tol)
    price_flags = _price_flags(ratios, tol)
    lines = [
        _judge(g, price_flags.get((g.key[1], g.key[2], g.name)), tol)
        for g in sorted(groups.values(), key=lambda g: (g.key[0], g.key[1], g.key[2] or "", g.key[3]))
    ]
    return Reconciliation(period.label, lines, _findings(lines, ratios), unbilled)


def true_up(store: LedgerStore, rec: Reconciliation) -> list[CostLine]:
    """Store, per matched group, billed minus computed as a ``true_up`` line beside the computed cost.

    Events keep their computed ``cost_usd``; a group's reconciled cost is
    ``cost_usd x ratio`` of its true-up line. Re-running replaces the period's true-ups.
    """
    lines = []
    for ln in rec.lines:
        if ln.billed is None or not ln.computed:
            continue
        start = datetime.combine(ln.day, time(0), tzinfo=UTC)
        lines.append(
            CostLine(
                kind=CostLineKind.TRUE_UP,
                source="reconcile",
                charge_period_start=start,
                charge_period_end=start + timedelta(days=1),
                billed_cost=ln.variance,
                effective_cost=ln.variance,
                provider=ln.provider,
                provider_account=ln.provider_account,
                model=ln.model,
                service_category="AI and Machine Learning",
                charge_category="Adjustment",
                charge_description=f"true-up to the bill: {','.join(ln.flags) or 'matched'}",
                ratio=(ln.billed / ln.computed).quantize(Decimal("0.000000001")),
                signal_quantity=ln.computed.quantize(Decimal("0.000000001")),
                confidence=Confidence(ln.confidence),
                allocation_period=rec.period,
            )
        )
    lit = store.dialect.literal
    store.delete_cost_lines(f"kind = 'true_up' AND allocation_period = {lit(rec.period)}")
    store.append_cost_lines(lines)
    return lines
