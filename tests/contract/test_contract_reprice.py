"""Repricing history (pricing.reprice over a LedgerStore) gives the same result on both stores."""

from __future__ import annotations

from decimal import Decimal

from ledger_samples import sample_events

from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.pricing.reprice import reprice
from costtrail.schema import Event


def _unpriced_sample() -> list[Event]:
    # Computed (not reported) costs: the rows repricing is allowed to change.
    return [e.model_copy(update={"cost_usd": None, "cost_source": None}) for e in sample_events(300, seed=21)]


def _state(store: LedgerStore) -> list[dict[str, object]]:
    return store.query(
        "SELECT model, count(*) AS n, sum(cost_usd) AS cost,"
        " sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced, count(DISTINCT price_ref) AS refs"
        f" FROM {store.dialect.final('events')} GROUP BY model ORDER BY model"
    )


def test_reprice_is_identical_and_idempotent(both: tuple[LedgerStore, LedgerStore]) -> None:
    summaries = []
    for store in both:
        store.append_events(_unpriced_sample())
        first = reprice(store, Pricer(), batch_rows=120)
        second = reprice(store, Pricer(), batch_rows=120)
        assert second.changed == 0 and second.updated == 0
        summaries.append(first.as_dict())
    duck, click = both
    assert summaries[0] == summaries[1]
    assert summaries[0]["events_repriced"] == 300 and summaries[0]["new_total_usd"] > Decimal(0)
    assert _state(duck) == _state(click)
