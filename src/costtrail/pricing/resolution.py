"""Resolving which prices apply: once per (kind, provider, model, tier, tool) and price period.

A :class:`Schedule` is everything known about one group of events: the days
on which its prices change (genai-prices start dates, rate-card validity
windows) and the times of day at which they change (off-peak prices). Between
two change points the price is constant, so each (period, time segment) is
resolved once into a :class:`Cell`: the price reference, the context-size tier
thresholds and, per tier band, the effective prices. Both the per-event path
and the bulk Arrow path read these cells, which is why equal usage always gets
an equal price.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from genai_prices import __version__ as GENAI_PRICES_VERSION
from genai_prices import data_snapshot
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)
from genai_prices.units import UnitRegistry
from genai_prices.validation import validate_priced_units

from costtrail.pricing.decomposition import (
    FEE_FIELDS,
    FEE_USAGE_KEYS,
    QUERIES,
    RATE_FIELDS,
    REQUESTS,
    Check,
    Collapsed,
    collapse,
    unit_registry,
)
from costtrail.pricing.rate_card import ModelRate, RateCard, TieredPrice, ToolRate

EPOCH = date(1970, 1, 1)
DAY_US = 86_400_000_000
MODEL_KINDS = ("llm", "embedding", "other")

UnitPrice = Decimal | TieredPrices
# The rate card's ``tools`` name (tool_name) of each tool fee.
FEE_TOOL_NAMES: dict[str, str] = {
    "web_searches": "web_search",
    "file_searches": "file_search",
    "code_executions": "code_execution",
}


def day_number(d: date) -> int:
    return (d - EPOCH).days


def price_context(service_tier: str | None) -> dict[str, str] | None:
    """The genai-prices price context for an event's service tier.

    ``batch`` selects batch prices (``processing: batch``); any other tier
    (``priority``, ``flex``, ``default``, ...) is matched as ``service_tier``;
    ``key=value`` passes a context entry through (e.g. ``speed=fast``).
    """
    if not service_tier or not service_tier.strip():
        return None
    tier = service_tier.strip()
    if "=" in tier:
        key, _, value = tier.partition("=")
        return {key.strip(): value.strip()}
    if tier.lower() == "batch":
        return {"processing": "batch"}
    return {"service_tier": tier.lower()}


@dataclass(frozen=True)
class GpuBasis:
    """Priced by GPU time: compute_seconds x usd_per_hour(gpu_type) / 3600 x factor (+ fees in prices)."""

    factor: Decimal
    card: RateCard


@dataclass(frozen=True)
class Rates:
    """Effective USD per unit of each ``RATE_FIELDS`` entry for one tier band, and the usage checks."""

    prices: tuple[Decimal, ...]
    checks: tuple[Check, ...] = ()
    gpu: GpuBasis | None = None
    # (RATE_FIELDS index, rate-card ref) of each tool fee the rate card's ``tools`` prices: an
    # event that used the fee names the entry in its price_ref.
    tool_refs: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Cell:
    """The prices in force for one group in one period and time-of-day segment."""

    price_ref: str | None
    reason: str | None = None
    thresholds: tuple[int, ...] = ()
    bands: tuple[Rates, ...] = ()
    unit_prices: Mapping[str, UnitPrice] = field(default_factory=dict)
    discount_factor: Decimal = Decimal(1)  # shown by price listings; already folded into bands
    request_fee: Decimal = Decimal(0)

    @property
    def unpriced(self) -> bool:
        return self.reason is not None

    def band(self, input_tokens: int) -> Rates:
        return self.bands[bisect.bisect_left(self.thresholds, input_tokens)]


def _unpriced(reason: str) -> Cell:
    return Cell(None, reason)


def _tod_us(t: time) -> int:
    if t.tzinfo is not None:
        t = datetime.combine(EPOCH, t).astimezone(UTC).timetz()
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass
class Schedule:
    """One group's change points and its lazily resolved cells."""

    resolver: Resolver
    key: tuple[str, str | None, str | None, str | None, str | None]
    change_days: list[int]
    tod_bounds: list[int]
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    def period(self, day: int) -> int:
        return bisect.bisect_right(self.change_days, day)

    def segment(self, tod_us: int) -> int:
        return bisect.bisect_right(self.tod_bounds, tod_us) if self.tod_bounds else 0

    def cell(self, period: int, segment: int) -> Cell:
        found = self.cells.get((period, segment))
        if found is None:
            found = self.cells[(period, segment)] = self.resolver.resolve(self, period, segment)
        return found

    def cell_at(self, when: datetime) -> Cell:
        when = when.astimezone(UTC) if when.tzinfo else when
        day = day_number(when.date())
        tod = ((when.hour * 60 + when.minute) * 60 + when.second) * 1_000_000 + when.microsecond
        return self.cell(self.period(day), self.segment(tod))

    def representative(self, period: int, segment: int) -> datetime:
        """A moment inside (period, segment): every moment there has the same prices."""
        if period > 0:
            day = self.change_days[period - 1]
        else:
            day = self.change_days[0] - 1 if self.change_days else day_number(date(2000, 1, 1))
        tod = self.tod_bounds[segment - 1] if segment > 0 else 0
        return datetime.combine(EPOCH + timedelta(days=day), time(tzinfo=UTC)) + timedelta(microseconds=tod)


class Resolver:
    """Builds schedules and cells from genai-prices' data and an optional rate card (all cached)."""

    def __init__(self, rate_card: RateCard | None = None) -> None:
        self.rate_card = rate_card
        self.registry: UnitRegistry = unit_registry()
        self.snapshot = data_snapshot.get_snapshot()
        updated = f"+update-{self.snapshot.timestamp:%Y%m%d}" if self.snapshot.from_auto_update else ""
        self.genai_ref = f"genai-prices@{GENAI_PRICES_VERSION}{updated}"
        self.card_ref = f"rate-card@{rate_card.version}" if rate_card else None
        self.by_region = bool(rate_card and any(e.region for e in rate_card.models))
        self._schedules: dict[tuple[str | None, ...], Schedule] = {}  # per instance, never shared
        self._collapsed: dict[tuple[tuple[str, Decimal], ...], Collapsed] = {}

    # -- groups --------------------------------------------------------------

    def schedule(
        self,
        kind: str | None,
        provider: str | None,
        model: str | None,
        service_tier: str | None,
        tool_name: str | None,
        region: str | None = None,
    ) -> Schedule:
        """The schedule of one group. A model group's last key part is its region, kept only
        when a rate-card model entry names regions (else every region prices alike)."""
        klass = "model" if (kind or "llm") in MODEL_KINDS else str(kind)
        key: tuple[str, str | None, str | None, str | None, str | None]
        if klass == "model":
            key = (klass, provider, model, service_tier, region if self.by_region else None)
        elif klass == "retrieval":
            key = (klass, provider, model, None, tool_name)
        elif klass == "tool":
            key = (klass, provider, None, None, tool_name)
        else:
            key = (klass, None, None, None, None)
        found = self._schedules.get(key)
        if found is None:
            found = self._schedules[key] = self._build(key)
        return found

    def _build(self, key: tuple[str, str | None, str | None, str | None, str | None]) -> Schedule:
        klass, provider, model, tier, _ = key
        days: set[int] = set()
        bounds: set[int] = set()
        for _, entry in self._candidates(key):
            days.update(day_number(d) for d in entry.boundaries())
        if klass == "model" and model:
            found = self._genai(provider, model)
            if found is not None:
                self._genai_change_points(found[0], found[1], price_context(tier), days, bounds)
        return Schedule(self, key, sorted(days), sorted(b for b in bounds if b > 0))

    def _candidates(self, key: tuple[str, str | None, str | None, str | None, str | None]) -> list[Any]:
        card = self.rate_card
        if card is None:
            return []
        klass, provider, model, tier, tool = key
        if klass == "model":  # the key's last part is the region for a model group
            return [(i, e) for i, e in enumerate(card.models) if e.selects(provider, model, tier, tool)]
        if klass == "retrieval":
            return [(i, e) for i, e in enumerate(card.retrieval) if e.selects(provider, model, tool)]
        if klass == "tool":
            return [(i, e) for i, e in enumerate(card.tools) if e.selects(provider, tool)]
        return []

    def _genai(self, provider: str | None, model: str) -> tuple[Provider, ModelInfo] | None:
        try:
            return self.snapshot.find_provider_model(model, None, provider, None)
        except LookupError:
            return None

    @staticmethod
    def _genai_change_points(
        provider: Provider, model: ModelInfo, context: dict[str, str] | None, days: set[int], bounds: set[int]
    ) -> None:
        constraints = [c.constraint for c in model.prices] if isinstance(model.prices, list) else []
        if context and any(model is m for m in provider.models):
            constraints += [v.constraint for v in model.price_variants or ()]
        for c in constraints:
            if isinstance(c, StartDateConstraint):
                days.add(day_number(c.start_date))
            elif isinstance(c, TimeOfDateConstraint):
                bounds.update((_tod_us(c.start_time), _tod_us(c.end_time)))

    # -- cells ---------------------------------------------------------------

    def resolve(self, schedule: Schedule, period: int, segment: int) -> Cell:
        when = schedule.representative(period, segment)
        klass, provider, model, tier, tool = schedule.key
        candidates = self._candidates(schedule.key)
        chosen = next(((i, e) for i, e in candidates if e.valid_on(when.date())), None)
        if klass == "model":
            return self._model_cell(provider, model, tier, when, chosen)
        if klass in ("retrieval", "tool"):
            if chosen is None:
                what = f"tool {tool!r}" if klass == "tool" else "this retrieval"
                return _unpriced(f"no rate-card entry prices {what} (add one under '{klass}')")
            index, entry = chosen
            prices = [Decimal(0)] * len(RATE_FIELDS)
            section = "tools" if klass == "tool" else "retrieval"
            if klass == "tool":
                prices[REQUESTS] = entry.usd_per_call
            else:
                prices[QUERIES] = entry.usd_per_1k_queries / 1000
                prices[REQUESTS] = entry.request_fee_usd or Decimal(0)
            return Cell(self._card_ref(section, index), bands=(Rates(tuple(prices)),))
        if klass == "infra":
            if self.rate_card is None or not self.rate_card.gpus:
                return _unpriced("infra events are priced by the rate card's gpus table, which is empty")
            zero = tuple(Decimal(0) for _ in RATE_FIELDS)
            return Cell(f"{self.card_ref}", bands=(Rates(zero, gpu=GpuBasis(Decimal(1), self.rate_card)),))
        return _unpriced(f"events of kind {klass!r} have no price")

    def _card_ref(self, section: str, index: int) -> str:
        assert self.rate_card is not None
        return f"{self.card_ref}/{self.rate_card.entry_label(section, index)}"

    def _model_cell(
        self,
        provider: str | None,
        model: str | None,
        tier: str | None,
        when: datetime,
        chosen: tuple[int, ModelRate] | None,
    ) -> Cell:
        entry = chosen[1] if chosen else None
        card_ref = self._card_ref("models", chosen[0]) if chosen else None
        if entry is not None and entry.gpu_time:
            assert self.rate_card is not None
            fee = [Decimal(0)] * len(RATE_FIELDS)
            fee[REQUESTS] = entry.request_fee_usd or Decimal(0)
            basis = GpuBasis(_factor(entry), self.rate_card)
            return Cell(card_ref, bands=(Rates(tuple(fee), gpu=basis),))
        if entry is not None and entry.prices is not None:
            unit_prices = {
                self.registry.unit_for_price_key(k).usage_key: _card_price(v) for k, v in entry.prices.items()
            }
            ref = card_ref
        else:
            found = self._genai(provider, model) if model else None
            if found is None:
                who = f"{provider}/{model}" if provider else str(model)
                if entry is not None:
                    return _unpriced(f"rate-card entry {card_ref} adjusts the list price, but {who} has none")
                return _unpriced(f"no price for {who} in {self.genai_ref} or the rate card")
            try:
                unit_prices, genai_ref = self._genai_prices(found[0], found[1], when, price_context(tier))
            except ValueError as exc:
                return _unpriced(f"{self.genai_ref} cannot price {found[1].id}: {exc}")
            ref = f"{card_ref}+{genai_ref}" if card_ref else genai_ref
        return self._cell(ref, unit_prices, entry, provider, when.date())

    def _genai_prices(
        self, provider: Provider, model: ModelInfo, when: datetime, context: dict[str, str] | None
    ) -> tuple[dict[str, UnitPrice], str]:
        in_provider = any(model is m for m in provider.models)
        model_price: ModelPrice = model.get_prices(when, context if in_provider else None)
        unit_prices: dict[str, UnitPrice] = {}
        for key, value in model_price.__dict__.items():
            if value is None or key.startswith("_"):
                continue
            try:
                unit = self.registry.unit_for_price_key(key)
            except KeyError:
                continue  # genai-prices ignores (with a warning) keys it has no unit for
            unit_prices[unit.usage_key] = value
        validate_priced_units(tuple(self.registry.units[k] for k in unit_prices), self.registry)
        notes = []
        if isinstance(model.prices, list):
            for cp in reversed(model.prices):
                c = cp.constraint
                if c is None or c.active(when):
                    if isinstance(c, StartDateConstraint):
                        notes.append(f"since={c.start_date.isoformat()}")
                    elif isinstance(c, TimeOfDateConstraint):
                        notes.append(f"hours={c.start_time:%H:%M}-{c.end_time:%H:%M}")
                    break
        if context and in_provider and model_price != model.get_prices(when):
            notes.append("tier=" + ",".join(f"{v}" for v in context.values()))
        ref = f"{self.genai_ref}/{provider.id}/{model.id}"
        return unit_prices, ref + ("?" + "&".join(notes) if notes else "")

    def _collapse(self, flat: dict[str, Decimal]) -> Collapsed:
        """Many cells share a price list (tiers, periods, providers); collapse each list once."""
        key = tuple(sorted(flat.items()))
        found = self._collapsed.get(key)
        if found is None:
            found = self._collapsed[key] = collapse(flat, self.registry)
        return found

    def _cell(
        self,
        ref: str | None,
        unit_prices: Mapping[str, UnitPrice],
        entry: ModelRate | None,
        provider: str | None,
        day: date,
    ) -> Cell:
        thresholds = sorted(
            {t.start for p in unit_prices.values() if isinstance(p, TieredPrices) for t in p.tiers}
        )
        factor = _factor(entry) if entry else Decimal(1)
        fee = entry.request_fee_usd if entry and entry.request_fee_usd else Decimal(0)
        bands = []
        for b in range(len(thresholds) + 1):
            rep = thresholds[b - 1] + 1 if b else 0
            flat = {k: _tier_price(p, rep) for k, p in unit_prices.items()}
            collapsed = self._collapse(flat)
            if not collapsed.carried:
                units = ", ".join(sorted(unit_prices))
                return _unpriced(f"{ref} prices only {units}, which events do not carry")
            prices = [p * factor for p in collapsed.prices] if factor != 1 else list(collapsed.prices)
            prices[REQUESTS] += fee
            entries = self._tool_entries(flat, provider, day)
            tool_fees, checks = self._tool_fees(flat, entries)
            for index, price in tool_fees.items():
                prices[index] = price
            refs = tuple((RATE_FIELDS.index(f), self._card_ref("tools", i)) for f, (i, _) in entries.items())
            bands.append(Rates(tuple(prices), collapsed.checks + checks, tool_refs=refs))
        return Cell(ref, None, tuple(thresholds), tuple(bands), dict(unit_prices), factor, fee)

    def _tool_entries(
        self, flat: Mapping[str, Decimal], provider: str | None, day: date
    ) -> dict[str, tuple[int, ToolRate]]:
        """Tool fees the model's own prices lack, by event field: the rate card's ``tools`` entry for each."""
        card = self.rate_card
        found: dict[str, tuple[int, ToolRate]] = {}
        for name in FEE_FIELDS:
            if FEE_USAGE_KEYS[name] in flat or card is None:
                continue
            tool = FEE_TOOL_NAMES[name]
            match = next(
                ((i, e) for i, e in enumerate(card.tools) if e.selects(provider, tool) and e.valid_on(day)),
                None,
            )
            if match is not None:
                found[name] = match
        return found

    def _tool_fees(
        self, flat: Mapping[str, Decimal], entries: Mapping[str, tuple[int, ToolRate]]
    ) -> tuple[dict[int, Decimal], tuple[Check, ...]]:
        """Prices of the tool fees the model's prices lack (from the rate card), and a check that
        leaves a call unpriced when it used a tool no price covers (never a silent $0)."""
        prices: dict[int, Decimal] = {}
        checks: list[Check] = []
        for name in FEE_FIELDS:
            index = RATE_FIELDS.index(name)
            if FEE_USAGE_KEYS[name] in flat:
                continue
            if name in entries:
                prices[index] = entries[name][1].usd_per_call
                continue
            coefs = [0] * len(RATE_FIELDS)
            coefs[index] = 1
            message = (
                f"{name} has no price for this model in {self.genai_ref} or the rate card: add a rate-card "
                f"tools entry (tool_name: {FEE_TOOL_NAMES[name]}, usd_per_call: ...)"
            )
            checks.append(Check("unpriced", tuple(coefs), message))
        return prices, tuple(checks)


def _factor(entry: ModelRate) -> Decimal:
    if entry.discount_percent is None:
        return Decimal(1)
    return (100 - entry.discount_percent) / 100


def _card_price(value: Decimal | TieredPrice) -> UnitPrice:
    if isinstance(value, TieredPrice):
        from genai_prices.types import Tier

        return TieredPrices(value.base, [Tier(t.start, t.price) for t in value.tiers])
    return value


def _tier_price(price: UnitPrice, input_tokens: int) -> Decimal:
    """The price genai-prices applies at ``input_tokens``: the highest tier whose start is exceeded."""
    if isinstance(price, TieredPrices):
        for tier in reversed(price.tiers):
            if input_tokens > tier.start:
                return tier.price
        return price.base
    return price
