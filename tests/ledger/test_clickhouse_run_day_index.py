"""ClickHouse's by-day run index: reports grouped by day count runs per (run, day) pair.

A run that crosses midnight is decided on each of its days (no events read for it); a run that
changes workflow within a day is counted from that day's events; a ledger made before the index
gets it filled from its events by migration 8.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.recording import SqlRecorder

from costtrail.ledger.clickhouse_schema import DDLOptions
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.migrations import apply_migrations
from costtrail.reports import report
from costtrail.schema import Event

NIGHT = datetime(2026, 5, 4, 23, 50, tzinfo=UTC)


def _event(run: str, at: datetime, workflow: str) -> Event:
    return Event(
        event_id=f"{run}-{at.isoformat()}-{workflow}",
        run_id=run,
        workflow=workflow,
        started_at=at,
        provider="openai",
        model="gpt-4o-mini",
        cost_usd=Decimal("0.01"),
        cost_source="reported",
    )


def _events() -> list[Event]:
    out = []
    for r in range(6):  # six runs that cross midnight, one workflow each
        later = NIGHT + timedelta(minutes=20)
        out += [_event(f"night-{r}", NIGHT, "alpha"), _event(f"night-{r}", later, "alpha")]
    # One run switches workflow on the second day: that (run, day) pair is undecided.
    out += [
        _event("switch", NIGHT, "alpha"),
        _event("switch", NIGHT + timedelta(minutes=30), "alpha"),
        _event("switch", NIGHT + timedelta(minutes=40), "beta"),
    ]
    return out


def _expected(events: list[Event]) -> dict[tuple[Any, ...], int]:
    groups: dict[tuple[Any, ...], set[str]] = {}
    for e in events:
        assert e.run_id is not None
        groups.setdefault((e.workflow, e.started_at.astimezone(UTC).date()), set()).add(e.run_id)
    return {k: len(v) for k, v in groups.items()}


def _runs_by_workflow_day(store: ClickHouseStore) -> tuple[dict[tuple[Any, ...], int], list[str]]:
    recorder = SqlRecorder(store)
    rows = report(recorder, by=["workflow", "day"], metrics=["runs"])  # type: ignore[arg-type]
    return {(r["workflow"], r["day"]): r["runs"] for r in rows}, recorder.sql


@pytest.fixture
def store(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    database = f"rdi_{uuid.uuid4().hex[:10]}"
    opened = ClickHouseStore.from_url(f"chdb://{chdb_dir}?database={database}")
    try:
        yield opened
    finally:
        opened.command(f"DROP DATABASE IF EXISTS `{database}`")
        opened.close()


def test_runs_crossing_midnight_are_counted_from_the_index(store: ClickHouseStore) -> None:
    events = _events()
    store.append_events(events)
    got, sql = _runs_by_workflow_day(store)
    # May 4: 7 alpha runs; May 5: 7 alpha runs (six night runs + switch) and 1 beta run (switch).
    assert (
        got
        == _expected(events)
        == {
            ("alpha", NIGHT.date()): 7,
            ("alpha", NIGHT.date() + timedelta(days=1)): 7,
            ("beta", NIGHT.date() + timedelta(days=1)): 1,
        }
    )
    from_events = [s for s in sql if "count(DISTINCT run_id)" in s]
    # Only the one undecided pair, (switch, May 5), is read from the events, by its literal pair.
    assert len(from_events) == 1 and "'switch'" in from_events[0] and "'night-" not in from_events[0]


def test_a_ledger_made_before_the_by_day_index_gets_it_filled(store: ClickHouseStore) -> None:
    db = f"`{store.target.database}`"
    store.command(f"DROP VIEW {db}.run_day_index_mv")
    store.command(f"DROP TABLE {db}.run_day_index")
    store.command(f"ALTER TABLE {db}.costtrail_migrations DELETE WHERE version = 8")
    events = _events()
    store.append_events(events)  # stored while no by-day index exists
    assert apply_migrations(store, DDLOptions(database=store.target.database)) == [8]
    pairs = store.query("SELECT count() AS n FROM run_day_index")[0]["n"]
    assert pairs == len({(e.run_id, e.started_at.date()) for e in events}) == 14
    got, sql = _runs_by_workflow_day(store)
    assert got == _expected(events)
    assert any("run_day_index" in s for s in sql)
