"""Pricing events: the one engine every way in (SDK, collector, gateway, reprice) uses.

Prices come from the genai-prices package's bundled data (offline) and an
optional user :class:`~costtrail.pricing.rate_card.RateCard`, at each event's
own ``started_at``. Resolution is cached per (kind, provider, model, tier,
tool) and price period, so pricing one event is a few dictionary lookups and
pricing a million (:meth:`Pricer.price_table`) is array arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from costtrail.pricing.costing import USAGE_REFUSED, cost_of, usage_values
from costtrail.pricing.decomposition import FEE_FIELDS, RATE_FIELDS
from costtrail.pricing.rate_card import RateCard
from costtrail.pricing.resolution import Cell, Resolver
from costtrail.schema import CostSource, Event


@dataclass(frozen=True)
class Price:
    """The price of one event; ``unpriced`` when no price matched (never a silent zero).

    ``reason`` says why an event is unpriced (no price for the model, a usage
    genai-prices would reject, a rate-card entry that does not apply, an
    incomplete call, ...). An incomplete call (``status="incomplete"``: its
    usage is unknown) is never priced exactly: ``estimate_usd`` prices its
    estimated tokens instead.
    """

    cost_usd: Decimal | None
    price_ref: str | None
    unpriced: bool
    reason: str | None = None
    estimate_usd: Decimal | None = None


INCOMPLETE = "incomplete"
INCOMPLETE_REASON = "incomplete call: its usage is unknown (cost_estimate_usd holds an estimate)"


class Pricer:
    """Prices events at their own timestamp from genai-prices data plus a user rate card.

    >>> from decimal import Decimal
    >>> e = Event(provider="openai", model="gpt-4o-mini", input_tokens=1_000_000, output_tokens=0)
    >>> Pricer().price(e).cost_usd == Decimal("0.15")
    True
    """

    def __init__(self, rate_card: RateCard | None = None) -> None:
        self.rate_card = rate_card
        self._resolver = Resolver(rate_card)

    @classmethod
    def from_rate_card(cls, path: Path | None) -> Pricer:
        """The pricer a server starts with: genai-prices, plus the user's rate card when one is set."""
        return cls(RateCard.load(path) if path is not None else None)

    @property
    def resolver(self) -> Resolver:
        """The cached price resolution (for listing prices; see ``costtrail prices``)."""
        return self._resolver

    def price(self, event: Event) -> Price:
        """The computed price of one event (a reported cost on the event is not consulted)."""
        if event.attributes and USAGE_REFUSED in event.attributes:
            return Price(None, None, True, f"usage refused: {event.attributes[USAGE_REFUSED]}")
        cell, values = self._cell_and_values(event)
        costed = cost_of(
            cell,
            values,
            compute_seconds=event.compute_seconds,
            gpu_type=event.gpu_type,
            day=event.started_at.date(),
        )
        if costed.cost_usd is None:
            return Price(None, None, True, costed.reason)
        if event.status == INCOMPLETE:  # an estimate needs some usage to go on: none is no estimate
            seen = event.input_tokens or event.output_tokens
            return Price(None, None, True, INCOMPLETE_REASON, estimate_usd=costed.cost_usd if seen else None)
        return Price(costed.cost_usd, costed.price_ref, False)

    def components(self, event: Event) -> dict[str, Decimal]:
        """The parts of an event's computed cost: ``model`` (tokens, per-request fees, GPU time) and
        each tool fee it used (``web_searches``, ``file_searches``, ``code_executions``); empty when
        the event is unpriced. The parts add up to :meth:`price`'s ``cost_usd`` exactly.

        >>> e = Event(provider="openai", model="gpt-4o", input_tokens=1000, web_searches=1)
        >>> Pricer().components(e)
        {'model': Decimal('0.0025000'), 'web_searches': Decimal('0.01')}
        """
        price = self.price(event)
        if price.cost_usd is None:
            return {}
        cell, values = self._cell_and_values(event)
        rates = cell.band(values[0])
        fees = {
            name: rates.prices[RATE_FIELDS.index(name)] * values[RATE_FIELDS.index(name)]
            for name in FEE_FIELDS
            if values[RATE_FIELDS.index(name)]
        }
        return {"model": price.cost_usd - sum(fees.values(), Decimal(0)), **fees}

    def _cell_and_values(self, event: Event) -> tuple[Cell, tuple[int, ...]]:
        schedule = self._resolver.schedule(
            event.kind, event.provider, event.model, event.service_tier, event.tool_name, event.region
        )
        cell = schedule.cell_at(event.started_at)
        values = usage_values(
            event.input_tokens,
            event.output_tokens,
            event.cache_read_tokens,
            event.cache_write_tokens,
            event.input_audio_tokens,
            event.output_audio_tokens,
            event.reasoning_tokens,
            event.cache_write_1h_tokens,
            event.request_count,
            event.query_count,
            event.web_searches,
            event.file_searches,
            event.code_executions,
        )
        return cell, values

    def apply(self, events: Sequence[Event]) -> list[Event]:
        """Set cost fields on events in place (a reported cost is kept) and return them."""
        for e in events:
            if e.cost_source == CostSource.REPORTED and e.cost_usd is not None:
                e.unpriced = False
                continue
            p = self.price(e)
            e.cost_usd, e.price_ref, e.unpriced = p.cost_usd, p.price_ref, p.unpriced
            e.cost_source = CostSource.COMPUTED if not p.unpriced else None
            e.cost_estimate_usd = p.estimate_usd if p.estimate_usd is not None else e.cost_estimate_usd
        return list(events)

    def price_table(self, table: pa.Table) -> pa.Table:
        """Price an Arrow table of events in bulk (``ledger.columns.EVENT_SCHEMA`` column names).

        Returns the same rows with ``cost_usd`` (DECIMAL(18, 12), rounded half-even
        when an exact cost has more than 12 decimals), ``cost_source``,
        ``price_ref`` and ``unpriced`` set. Rows with a reported cost keep it.
        """
        from costtrail.pricing.bulk import price_arrow

        return price_arrow(self._resolver, table)
