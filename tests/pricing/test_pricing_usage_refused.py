"""An event whose usage a door refused to store is unpriced in both pricing lanes."""

from __future__ import annotations

from costtrail.ledger.columnar import events_to_arrow
from costtrail.pricing import Pricer
from costtrail.pricing.costing import USAGE_REFUSED
from costtrail.schema import Event


def test_refused_usage_is_never_priced_by_any_lane() -> None:
    refused = Event(
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=0,  # the provider's 2^63 was not stored
        output_tokens=20,
        attributes={USAGE_REFUSED: f"input_tokens={2**63}"},
    )
    plain = Event(provider="openai", model="gpt-4o-mini", input_tokens=0, output_tokens=20)
    pricer = Pricer()
    single = pricer.price(refused)
    assert single.unpriced and single.cost_usd is None and "usage refused" in (single.reason or "")
    table = pricer.price_table(events_to_arrow([refused, plain]))
    assert table.column("unpriced").to_pylist() == [True, False]
    assert table.column("cost_usd").to_pylist()[0] is None
