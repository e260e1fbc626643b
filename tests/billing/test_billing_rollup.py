"""Invoices read from the DuckDB ledger's usage rollup stay equal to the raw events through every write.

The month of ``test_billing_invoice`` goes in with retries (a re-sent batch, repeats inside
one), a reprice, and deletes, plus a run cut by the month's first midnight and a run shared
by two customers. The expected amounts come from the same independent computation over the
raw events (the Python list, changed the way the ledger was). The preview must read the
rollup, touching events only for the runs the rollup cannot place whole in the month.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.billing.test_billing_invoice import NOV, PLANS, Month, _expected, _generate

from costtrail.billing import PricePlans, line_rows, preview
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event, Outcome

READS_EVENTS = re.compile(r"\b(FROM|JOIN)\s+events\b")
DOUBLED = "customer_id IN ('cust-00', 'cust-01') AND model = 'gpt-4o-mini'"
NOW_PRICED = "customer_id = 'cust-02' AND model = 'my-finetune'"
PRICE = Decimal("0.004")


class Recording:
    """The store, with every query it is asked kept (and, for ``hide_rollup``, no rollup)."""

    def __init__(self, inner: DuckDBStore, *, hide_rollup: bool = False) -> None:
        self.inner, self.hide_rollup, self.sql = inner, hide_rollup, []  # type: list[str]

    def query(self, sql: str) -> list[dict[str, Any]]:
        self.sql.append(sql)
        return self.inner.query(sql)

    def usage_rollup(self) -> Any:
        return None if self.hide_rollup else self.inner.usage_rollup()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _edge_runs() -> list[Event]:
    """A run across the month's first midnight, and one run shared by two customers."""
    base = {"provider": "openai", "model": "gpt-4o", "workflow": "support", "status": "success"}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    cut = [
        Event(
            **base,
            run_id="cut",
            customer_id=c,
            plan_tier=t,
            started_at=start + timedelta(seconds=s),
            input_tokens=1000,
            output_tokens=30_000,
            cost_usd=Decimal("0.25"),
        )
        for c, t in (("cust-00", "pro"), ("cust-01", "basic"))
        for s in (-2, 1, 2)
    ]
    shared = [
        Event(
            **base,
            run_id="shared",
            customer_id=c,
            plan_tier="pro",
            started_at=start + timedelta(days=9, seconds=s),
            input_tokens=500,
            output_tokens=40_000,
            cost_usd=Decimal("0.5"),
        )
        for s, c in enumerate(("cust-02", "cust-04", "cust-02"))
    ]
    return cut + shared


def _written(store: DuckDBStore) -> Month:
    """The month written with retries, a reprice and deletes; the same changes made to the list."""
    m = _generate()
    m.events += _edge_runs()
    # the run cut by midnight resolved a ticket: the cost behind it comes from its events
    cut_at = datetime(2026, 11, 1, 0, 0, 5, tzinfo=UTC)
    m.outcomes.append(Outcome(run_id="cut", workflow="support", outcome="ticket_resolved", success=True,
                              customer_id="cust-00", recorded_at=cut_at))  # fmt: skip
    assert store.usage_rollup() is not None  # invoices read it from the start: the appends keep it
    half = len(m.events) // 2
    store.append_events(m.events[:half])
    store.append_events(m.events)  # a retry: the first half again, with the rest
    store.append_events(m.events[:5] + m.events[:5])  # all stored already, repeated in the batch
    store.append_outcomes(m.outcomes)
    store.update_event_costs(
        store.query_arrow(
            "SELECT event_uuid, cost_usd * 2 AS cost_usd, cost_source, 'manual:v2' AS price_ref, unpriced "
            f"FROM events WHERE {DOUBLED}"
        )
    )
    store.update_event_costs(
        store.query_arrow(
            f"SELECT event_uuid, {PRICE} AS cost_usd, 'reported' AS cost_source, 'manual:v2' AS price_ref, "
            f"FALSE AS unpriced FROM events WHERE {NOW_PRICED}"
        )
    )
    ninth = store.dialect.literal(datetime(2026, 11, 9))
    store.delete_events("customer_id = 'cust-03'")
    store.delete_events(f"customer_id = 'cust-05' AND started_at < {ninth}")
    events = []
    for e in m.events:
        if e.customer_id == "cust-03" or (
            e.customer_id == "cust-05" and e.started_at < datetime(2026, 11, 9, tzinfo=UTC)
        ):
            continue
        if e.customer_id in ("cust-00", "cust-01") and e.model == "gpt-4o-mini":
            e = e.model_copy(update={"cost_usd": e.cost_usd * 2})  # type: ignore[operator]
        if e.customer_id == "cust-02" and e.model == "my-finetune":
            e = e.model_copy(update={"cost_usd": PRICE, "unpriced": False})
        events.append(e)
    return Month(events, m.outcomes)


@pytest.mark.parametrize("reading", ["rollup as appended", "rollup compacted", "rollup rebuilt", "events"])
def test_invoices_from_the_rollup_equal_the_raw_events_after_retries_reprice_and_deletes(
    store: DuckDBStore, reading: str
) -> None:
    month = _written(store)
    if reading == "rollup rebuilt":
        store.rebuild_usage_rollup()
    if reading == "rollup compacted":
        store.compact_usage_rollup()
    recording = Recording(store, hide_rollup=reading == "events")
    plans = PricePlans.from_yaml(PLANS)
    run = preview(recording, plans, NOV)  # type: ignore[arg-type]
    expected = _expected(month)
    assert sorted(i.customer_id for i in run.invoices) == sorted(expected)
    for invoice in run.invoices:
        want = expected[invoice.customer_id]
        got = {line.charge: line.amount for line in invoice.lines}
        assert got == {k: v for k, v in want.items() if k != "total"}, invoice.customer_id
    assert run.total == sum(e["total"] for e in expected.values())
    if reading != "events":
        assert any("usage_daily" in sql for sql in recording.sql)
        # events are read only for the runs the rollup cannot place whole in the month (cut, shared)
        narrow = [sql for sql in recording.sql if READS_EVENTS.search(sql)]
        assert narrow and all("run_usage" in sql for sql in narrow), narrow
    # the cost behind each line (its margin) is the one the events give
    by_events = preview(Recording(store, hide_rollup=True), plans, NOV)  # type: ignore[arg-type]
    costs = {
        (i.customer_id, line.charge): (line.cost, line.unpriced_events)
        for i in by_events.invoices
        for line in i.lines
    }
    assert {
        (i.customer_id, line.charge): (line.cost, line.unpriced_events)
        for i in run.invoices
        for line in i.lines
    } == costs
    # and each line's rows still sum to its quantity
    for invoice in run.invoices:
        for line in invoice.lines:
            if line.charge != "@minimum":
                rows = line_rows(store, plans, line.line_id)["rows"]
                assert sum((Decimal(r["quantity"]) for r in rows), Decimal(0)) == line.priced.quantity


def _rollup_tables(store: DuckDBStore) -> list[str]:
    rows = store.query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%usage%' ORDER BY 1")
    return [r["table_name"] for r in rows]


def test_a_ledger_nobody_bills_from_keeps_no_rollup_until_invoices_read_it(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    month = _generate()
    with DuckDBStore(path) as store:
        store.append_events(month.events)
        assert _rollup_tables(store) == []  # appends paid nothing for billing
    with DuckDBStore(path, read_only=True) as reader:
        assert reader.usage_rollup() is None  # a reader cannot build it: invoices read the events
        from_events = preview(reader, PricePlans.from_yaml(PLANS), NOV)  # type: ignore[arg-type]
    with DuckDBStore(path) as store:
        assert store.usage_rollup() is not None  # built from the events on the first read
        assert _rollup_tables(store) == ["run_usage", "run_usage_delta", "usage_daily"]
        from_rollup = preview(store, PricePlans.from_yaml(PLANS), NOV)  # type: ignore[arg-type]
    assert from_rollup.total == from_events.total
    assert {i.customer_id: i.total for i in from_rollup.invoices} == {
        i.customer_id: i.total for i in from_events.invoices
    }
