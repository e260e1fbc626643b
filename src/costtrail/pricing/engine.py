"""Pricing events: the one engine every way in (SDK, collector, gateway, reprice) uses.

NOTE: first cut. Prices each event through ``genai_prices.calc_price``; the
bulk price table (issue: spine, pricing) replaces the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from genai_prices import Usage, calc_price

from costtrail.schema import CostSource, Event


@dataclass(frozen=True)
class Price:
    """The price of one event; ``unpriced`` when no price matched (never a silent zero)."""

    cost_usd: Decimal | None
    price_ref: str | None
    unpriced: bool


class Pricer:
    """Prices events at their own timestamp from genai-prices data plus a user rate card."""

    def price(self, event: Event) -> Price:
        if not event.model:
            return Price(None, None, True)
        usage = Usage(
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cache_read_tokens=event.cache_read_tokens,
            cache_write_tokens=event.cache_write_tokens,
            input_audio_tokens=event.input_audio_tokens,
            output_audio_tokens=event.output_audio_tokens,
        )
        try:
            calc = calc_price(
                usage, event.model, provider_id=event.provider, genai_request_timestamp=event.started_at
            )
        except LookupError:
            return Price(None, None, True)
        return Price(calc.total_price, f"genai-prices:{calc.provider.id}/{calc.model.id}", False)

    def apply(self, events: Sequence[Event]) -> list[Event]:
        """Set cost fields on events in place (a reported cost is kept) and return them."""
        for e in events:
            if e.cost_source == CostSource.REPORTED and e.cost_usd is not None:
                continue
            p = self.price(e)
            e.cost_usd, e.price_ref, e.unpriced = p.cost_usd, p.price_ref, p.unpriced
            e.cost_source = CostSource.COMPUTED if not p.unpriced else None
        return list(events)
