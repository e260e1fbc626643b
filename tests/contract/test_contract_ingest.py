"""Ingest, idempotency, repricing and cost-line contract: the same assertions on both stores."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from tests.contract.ledger_samples import sample_cost_lines, sample_events, sample_outcomes

from costtrail.ledger.columnar import events_to_arrow
from costtrail.ledger.rows import event_uuid, row_to_event
from costtrail.ledger.store import LedgerStore


def _total(events: list) -> Decimal:
    return sum((e.cost_usd for e in events if e.cost_usd is not None), Decimal(0))


def test_append_counts_and_sums_exactly(ledger: LedgerStore) -> None:
    events = sample_events()
    result = ledger.append_events(events)
    assert (result.accepted, result.duplicates) == (len(events), 0)
    final = ledger.dialect.final("events")
    rows = ledger.query(
        f"SELECT count(*) AS n, sum(cost_usd) AS cost, count(cost_usd) AS priced FROM {final}"
    )
    assert rows == [{"n": 400, "cost": _total(events), "priced": sum(e.cost_usd is not None for e in events)}]


def test_resent_events_are_stored_once_and_counted_as_duplicates(ledger: LedgerStore) -> None:
    events = sample_events(60)
    ledger.append_events(events[:40])
    again = ledger.append_events(events)  # 40 old, 20 new
    assert (again.accepted, again.duplicates) == (20, 40)
    twice_in_batch = ledger.append_events([events[0], events[0], *sample_events(3, seed=99)])
    assert (twice_in_batch.accepted, twice_in_batch.duplicates) == (3, 2)
    n = ledger.query(f"SELECT count(*) AS n FROM {ledger.dialect.final('events')}")[0]["n"]
    assert n == 63
    fresh = sample_events(2, seed=123)
    repeated_new = ledger.append_events([fresh[0], fresh[1], fresh[0]])  # a new id twice in one batch
    assert (repeated_new.accepted, repeated_new.duplicates) == (2, 1)
    n = ledger.query(f"SELECT count(*) AS n FROM {ledger.dialect.final('events')}")[0]["n"]
    assert n == 65


def test_round_trip_rebuilds_the_same_events(ledger: LedgerStore) -> None:
    events = sample_events(40)
    ledger.append_events(events)
    back = {e.event_id: e for e in map(row_to_event, ledger.query("SELECT * FROM events"))}
    for original in events:
        stored = back[original.event_id]
        assert stored.cost_usd == original.cost_usd
        assert stored.started_at == original.started_at
        assert (stored.workflow, stored.feature, stored.attributes) == (
            original.workflow,
            original.feature,
            original.attributes,
        )


def test_bulk_arrow_batch_of_ten_thousand(ledger: LedgerStore) -> None:
    events = sample_events(10_000, seed=3)
    table = events_to_arrow(events)
    assert ledger.append_event_table(table).accepted == 10_000
    again = ledger.append_event_table(table.slice(0, 12_000))
    assert (again.accepted, again.duplicates) == (0, 10_000)
    got = ledger.query(f"SELECT sum(cost_usd) AS c FROM {ledger.dialect.final('events')}")[0]["c"]
    assert got == _total(events)


def test_outcomes_and_cost_lines_are_idempotent(ledger: LedgerStore) -> None:
    outcomes = sample_outcomes(sample_events(40))
    assert ledger.append_outcomes(outcomes).accepted == 10
    assert ledger.append_outcomes(outcomes).duplicates == 10
    lines = sample_cost_lines()
    assert ledger.append_cost_lines(lines).accepted == 6
    assert ledger.append_cost_lines(lines).duplicates == 6
    total = ledger.query(f"SELECT sum(billed_cost) AS c FROM {ledger.dialect.final('cost_lines')}")[0]["c"]
    assert total == sum((c.billed_cost for c in lines), Decimal(0))
    value = ledger.query(f"SELECT sum(value_usd) AS v FROM {ledger.dialect.final('outcomes')}")[0]["v"]
    assert value == sum((o.value_usd or Decimal(0) for o in outcomes), Decimal(0))


def test_delete_cost_lines_returns_the_count(ledger: LedgerStore) -> None:
    ledger.append_cost_lines(sample_cost_lines())
    where = f"model = {ledger.dialect.literal('gpt-4o')}"
    assert ledger.delete_cost_lines(where) == 3
    assert ledger.query(f"SELECT count(*) AS n FROM {ledger.dialect.final('cost_lines')}")[0]["n"] == 3
    assert ledger.delete_cost_lines(where) == 0


def test_repricing_replaces_costs(ledger: LedgerStore) -> None:
    events = sample_events(50)
    ledger.append_events(events)
    chosen = events[:10]
    prices = pa.table(
        {
            "event_uuid": pa.array([event_uuid(e.event_id).bytes for e in chosen], pa.binary(16)),
            "cost_usd": pa.array([Decimal("0.000000000001")] * 10, pa.decimal128(18, 12)),
            "cost_source": ["computed"] * 10,
            "price_ref": ["card:v2"] * 10,
            "unpriced": [False] * 10,
        }
    )
    assert ledger.update_event_costs(prices) == 10
    final = ledger.dialect.final("events")
    rows = ledger.query(
        f"SELECT count(*) AS n, sum(cost_usd) AS c, count(price_ref) AS repriced FROM {final}"
    )
    expected = _total(events[10:]) + Decimal("0.00000000001")
    assert rows == [{"n": 50, "c": expected, "repriced": 10}]
    # A re-sent event after repricing is still a duplicate and keeps the new price.
    assert ledger.append_events(chosen).duplicates == 10
    assert ledger.query(f"SELECT sum(cost_usd) AS c FROM {final}")[0]["c"] == expected


def test_literals_survive_quotes_backslashes_and_unicode(ledger: LedgerStore) -> None:
    events = sample_events(40)
    ledger.append_events(events)
    for value in ("it's \\tricky", "检索", "o'reilly"):
        where = f"workflow = {ledger.dialect.literal(value)} OR feature = {ledger.dialect.literal(value)}"
        n = ledger.query(f"SELECT count(*) AS n FROM {ledger.dialect.final('events')} WHERE {where}")[0]["n"]
        assert n == sum(1 for e in events if value in (e.workflow, e.feature)), value


def test_query_arrow_has_one_shape(ledger: LedgerStore) -> None:
    ledger.append_events(sample_events(10))
    table = ledger.query_arrow("SELECT event_uuid, started_at, cost_usd, workflow FROM events")
    assert table.num_rows == 10
    assert table.schema.field("event_uuid").type == pa.string()
    assert table.schema.field("started_at").type == pa.timestamp("us")
    assert pa.types.is_decimal(table.schema.field("cost_usd").type)
