"""The per-unit prices in force for one model at one moment (``costtrail prices``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from genai_prices.types import TieredPrices

from costtrail.pricing.engine import Pricer

_PER_LABELS = {1_000_000: "1M", 1_000: "1K", 3_600: "hour", 1_000_000_000: "1G"}

# The service tiers providers answer (and genai-prices prices); ``key=value`` passes a price context.
KNOWN_TIERS = ("standard", "default", "auto", "batch", "priority", "flex", "scale")


class PriceSheetError(ValueError):
    """A question ``prices`` cannot answer as asked (unknown tier, provider to choose)."""


def check_tier(pricer: Pricer, tier: str | None) -> None:
    """Refuse a tier no provider answers and no rate-card entry names."""
    if not tier or "=" in tier:
        return
    card = pricer.resolver.rate_card
    named = {e.service_tier.lower() for e in (card.models if card else ()) if e.service_tier}
    if tier.strip().lower() not in {*KNOWN_TIERS, *named}:
        choices = ", ".join(sorted({*KNOWN_TIERS, *named}))
        raise PriceSheetError(f"unknown service tier {tier!r}: use one of {choices} (or a context key=value)")


def rate_card_provider(pricer: Pricer, model: str, service_tier: str | None = None) -> str | None:
    """The provider the rate card prices ``model`` under, when it names exactly one: pricing applies
    a provider-scoped entry to an event of that provider, so ``prices MODEL`` shows that entry."""
    card = pricer.resolver.rate_card
    providers = sorted(
        {
            e.provider.lower()
            for e in (card.models if card else ())
            if e.provider and e.selects(e.provider, model, service_tier)
        }
    )
    if len(providers) > 1:
        raise PriceSheetError(
            f"the rate card prices {model} for providers {', '.join(providers)}: pass --provider to choose"
        )
    return providers[0] if providers else None


@dataclass(frozen=True)
class PriceSheet:
    """What ``model`` costs per unit at ``at``; ``reason`` is set when it has no price."""

    model: str
    provider: str | None
    service_tier: str | None
    at: datetime
    price_ref: str | None
    reason: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "service_tier": self.service_tier,
            "at": self.at.isoformat(),
            "price_ref": self.price_ref,
            "unpriced_reason": self.reason,
            "prices": self.rows,
        }


def price_sheet(
    pricer: Pricer,
    model: str,
    *,
    provider: str | None = None,
    at: datetime | None = None,
    service_tier: str | None = None,
) -> PriceSheet:
    """The prices ``pricer`` would apply to a call of ``model`` at ``at`` (default: now).

    Each row: ``unit`` (usage field), ``price_key``, ``usd`` per ``per`` units
    after any rate-card discount, ``list_usd`` before it, and ``tiers``
    (context-size tiers as ``"> start: usd"``).
    """
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    check_tier(pricer, service_tier)
    provider = provider or rate_card_provider(pricer, model, service_tier)
    resolver = pricer.resolver
    cell = resolver.schedule("llm", provider, model, service_tier, None).cell_at(at)
    sheet = PriceSheet(model, provider, service_tier, at, cell.price_ref, cell.reason)
    if cell.unpriced:
        return sheet
    for usage_key, price in cell.unit_prices.items():
        unit = resolver.registry.units[usage_key]
        base = price.base if isinstance(price, TieredPrices) else price
        tiers = (
            ", ".join(f"> {t.start:,}: {t.price * cell.discount_factor}" for t in price.tiers)
            if isinstance(price, TieredPrices)
            else ""
        )
        sheet.rows.append(
            {
                "unit": usage_key,
                "price_key": unit.price_key,
                "usd": base * cell.discount_factor,
                "per": _PER_LABELS.get(unit.per, str(unit.per)),
                "list_usd": base,
                "tiers": tiers,
            }
        )
    if cell.request_fee:
        sheet.rows.append(
            {
                "unit": "requests",
                "price_key": "request_fee_usd",
                "usd": cell.request_fee,
                "per": "1",
                "list_usd": None,
                "tiers": "",
            }
        )
    if cell.bands and cell.bands[0].gpu is not None:
        for gpu in cell.bands[0].gpu.card.gpus:
            if gpu.valid_on(at.date()):
                sheet.rows.append(
                    {
                        "unit": f"compute_seconds on {gpu.gpu_type}",
                        "price_key": "usd_per_hour",
                        "usd": gpu.usd_per_hour * cell.bands[0].gpu.factor,
                        "per": "hour",
                        "list_usd": gpu.usd_per_hour,
                        "tiers": "",
                    }
                )
    return sheet
