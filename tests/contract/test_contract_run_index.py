"""Distinct runs from the run index equal distinct runs counted over the events, on both stores.

``report(metrics=["runs"])`` answers from the run index when it groups and
filters by run-level attribution and day (``reports/run_counts.py``). The
reference here is computed in Python from the events as appended (first copy
of an id wins): runs that cross midnight, change workflow or customer, mix
NULL and '' with values, re-sent ids whose copy says another workflow, events
outside any run, windows that start and end mid-day. Checked while DuckDB's
index still has rows in its delta, after a compaction, and after more appends.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.recording import SqlRecorder

from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import LedgerStore
from costtrail.reports import NOT_NULL, report
from costtrail.reports.filters import FilterValue, NotNull
from costtrail.schema import Event

START = datetime(2026, 3, 9, tzinfo=UTC)
DIMS = {"workflow": "workflow", "customer": "customer_id", "tenant": "tenant_id", "day": "day"}


def _events(seed: int, runs: range) -> list[Event]:
    rng = random.Random(seed)
    out: list[Event] = []
    for r in runs:
        run = f"run-{r}" if r % 13 else None
        shape = r % 5  # 0 plain, 1 crosses midnight, 2 changes workflow, 3 NULL/'' mix, 4 customer mix
        base = START + timedelta(hours=rng.randrange(0, 24 * 3), minutes=rng.randrange(0, 60))
        wf = rng.choice(["alpha", "beta", "", None])
        for k in range(rng.randint(1, 4)):
            at = base + timedelta(minutes=7 * k)
            if shape == 1 and k:
                at += timedelta(hours=20)
            workflow = wf
            if shape == 2 and k == 1:
                workflow = "gamma"
            if shape == 3 and k == 1:
                workflow = None if wf is not None else "alpha"
            out.append(
                Event(
                    event_id=f"e{seed}-{r}-{k}",
                    run_id=run,
                    workflow=workflow,
                    customer_id=rng.choice(["c1", "c2", None]) if shape == 4 else f"c{r % 3}",
                    tenant_id=f"t{r % 2}",
                    started_at=at,
                    provider="openai",
                    model="gpt-4o-mini",
                    cost_usd=Decimal("0.01"),
                    cost_source="reported",
                )
            )
    return out


def _expected(
    events: Sequence[Event],
    by: Sequence[str],
    filters: Mapping[str, FilterValue],
    since: datetime | None,
    until: datetime | None,
) -> dict[tuple[Any, ...], int]:
    groups: dict[tuple[Any, ...], set[str]] = {}
    for e in events:
        at = e.started_at.astimezone(UTC).replace(tzinfo=None)
        if since is not None and at < since.replace(tzinfo=None):
            continue
        if until is not None and at >= until.replace(tzinfo=None):
            continue
        values = {"workflow": e.workflow, "customer": e.customer_id, "tenant": e.tenant_id, "day": at.date()}
        if not all(_matches(values[k], v) for k, v in filters.items()):
            continue
        key = tuple(values[b] for b in by)
        members = groups.setdefault(key, set())
        if e.run_id is not None:
            members.add(e.run_id)
    return {k: len(v) for k, v in groups.items()}


def _matches(value: Any, wanted: FilterValue) -> bool:
    if isinstance(wanted, NotNull):
        return value is not None
    options = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
    return value in options


CASES: list[tuple[list[str], dict[str, FilterValue], datetime | None, datetime | None]] = [
    (["workflow", "day"], {}, None, None),
    (["day"], {}, None, None),
    ([], {}, None, None),
    (["tenant", "workflow"], {"tenant": "t1"}, None, None),
    (["workflow"], {"workflow": ["alpha", None]}, None, None),
    (["customer", "day"], {"customer": NOT_NULL}, None, None),
    (["workflow", "day"], {}, START + timedelta(days=1), START + timedelta(days=3)),
    (["workflow", "day"], {}, START + timedelta(hours=30), START + timedelta(hours=61, minutes=15)),
    (["customer"], {"workflow": ""}, START + timedelta(hours=5), None),
]


def _check(store: LedgerStore, events: Sequence[Event]) -> None:
    first: dict[str | None, Event] = {}
    for e in events:
        first.setdefault(e.event_id, e)
    kept = list(first.values())
    for by, filters, since, until in CASES:
        recorder = SqlRecorder(store)
        rows = report(recorder, by=by, metrics=["runs"], filters=filters, since=since, until=until)  # type: ignore[arg-type]
        got = {tuple(_plain(r[DIMS[b]]) for b in by): r["runs"] for r in rows}
        want = _expected(kept, by, filters, since, until)
        assert got == want, (by, filters, since, until)
        # A cluster keeps no run index (one run's rows could sit on two shards): counts from events.
        indexed = not (isinstance(store, ClickHouseStore) and store.options.cluster)
        by_day = indexed and isinstance(store, ClickHouseStore) and "day" in by
        read = " ".join(recorder.sql)
        assert ("run_index" in read or "run_day_index" in read) == indexed, f"run index use for {by}"
        # ClickHouse counts a report grouped by day from its by-day index (run_index.py).
        assert ("run_day_index" in read) == by_day, f"by-day index use for {by}"


def _plain(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


def test_runs_from_the_index_match_the_events(ledger: LedgerStore) -> None:
    events = _events(1, range(0, 150))
    # Several appends: a run's rows reach the index (DuckDB: its delta) in pieces.
    for chunk in range(0, len(events), 97):
        ledger.append_events(events[chunk : chunk + 97])
    _check(ledger, events)
    if isinstance(ledger, DuckDBStore):
        ledger.compact_run_index()
        _check(ledger, events)
    # Re-sent ids whose copy names another workflow are duplicates (the first copy stays)...
    resent = [e.model_copy(update={"workflow": "zeta"}) for e in events[:40]]
    # ...and more runs, some continuing runs already in the index, arrive after the compaction.
    later = _events(2, range(100, 220))
    assert ledger.append_events(resent + later).duplicates == len(resent)
    _check(ledger, events + resent + later)


def test_reports_outside_the_index_still_count_runs(ledger: LedgerStore) -> None:
    events = _events(3, range(0, 60))
    ledger.append_events(events)
    recorder = SqlRecorder(ledger)
    rows = report(recorder, by=["model"], metrics=["runs"])  # type: ignore[arg-type]
    assert not any("run_index" in sql for sql in recorder.sql)
    assert rows[0]["runs"] == len({e.run_id for e in events if e.run_id})


def test_an_older_duckdb_ledger_gets_its_index_built_on_open(tmp_path: Any) -> None:
    path = tmp_path / "old.duckdb"
    events = _events(4, range(0, 40))
    with DuckDBStore(path) as store:
        store.append_events(events)
        store.execute("DROP TABLE run_index")
        store.execute("DROP TABLE run_index_delta")
    with DuckDBStore(path) as store:
        assert store.query("SELECT count(*) AS n FROM run_index")[0]["n"] > 0
        _check(store, events)


def test_a_day_bound_is_a_date(ledger: LedgerStore) -> None:
    events = _events(5, range(0, 30))
    ledger.append_events(events)
    since = date(2026, 3, 10)
    rows = report(ledger, by=["day"], metrics=["runs"], since=since)
    want = _expected(events, ["day"], {}, datetime(2026, 3, 10, tzinfo=UTC), None)
    assert {(_plain(r["day"]),): r["runs"] for r in rows} == want


def test_deleting_duckdb_events_rebuilds_their_runs_in_the_index() -> None:
    store = DuckDBStore(":memory:")
    events = _events(6, range(0, 80))
    store.append_events(events)
    cut = START + timedelta(days=1, hours=12)
    deleted = store.delete_events(f"started_at < {store.dialect.literal(cut.replace(tzinfo=None))}")
    kept = [e for e in events if e.started_at >= cut]
    assert deleted == len(events) - len(kept) > 0
    _check(store, kept)


def test_a_clickhouse_ttl_keeps_old_windows_off_the_index(chdb_dir: Any) -> None:
    from costtrail.ledger.clickhouse_store import ClickHouseStore

    store = ClickHouseStore.from_url(f"chdb://{chdb_dir}?database=ttl_idx&ttl_days=30")
    try:
        index = store.run_index()
        assert index is not None and index.complete_since is not None
        recorder = SqlRecorder(store)
        report(recorder, by=["day"], metrics=["runs"], since=index.complete_since - timedelta(days=1))  # type: ignore[arg-type]
        assert not any("run_index" in sql or "run_day_index" in sql for sql in recorder.sql)
        report(recorder, by=["day"], metrics=["runs"], since=index.complete_since)  # type: ignore[arg-type]
        assert any("run_day_index" in sql for sql in recorder.sql)
    finally:
        store.command("DROP DATABASE IF EXISTS ttl_idx")
        store.close()


def test_many_undecided_runs_are_read_by_subquery(ledger: LedgerStore, monkeypatch: Any) -> None:
    from costtrail.reports import run_counts

    monkeypatch.setattr(run_counts, "_INLINE_RUNS", 0)  # ClickHouse: no literal list, the subquery
    events = _events(7, range(0, 90))
    ledger.append_events(events)
    _check(ledger, events)
