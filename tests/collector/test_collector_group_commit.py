"""Group commit: concurrent event batches share one append, and each keeps its own counts."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.collector.conftest import RunningCollector

from costtrail.collector.group_commit import GroupCommitter, UnstorableBatch, commit_group, stored_event_keys
from costtrail.ledger.columnar import event_batch
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import AppendResult
from costtrail.pricing import Pricer

T0 = "2026-05-01T12:00:00+00:00"


def _record(event_id: str, i: int = 0) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "started_at": T0,
        "input_tokens": 100 + i,
        "output_tokens": 10,
    }


def _table(*ids: str) -> pa.Table:
    return Pricer().price_table(event_batch([_record(e, i) for i, e in enumerate(ids)]).table)


def _count(store: DuckDBStore) -> int:
    return int(store.query("SELECT count(*) AS n FROM events")[0]["n"])


def test_each_table_of_a_group_gets_its_own_counts(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    store.append_event_table(_table("stored-1"))
    first = _table("a", "b", "a")  # a repeat inside one request
    second = _table("b", "stored-1", "c")  # one id of the earlier request, one already stored
    third = _table("d", "e")
    results = commit_group(store, [first, second, third])
    assert results == [AppendResult(2, 1), AppendResult(1, 2), AppendResult(2, 0)]
    assert _count(store) == 1 + 5
    ids = {r["event_id"] for r in store.query("SELECT event_id FROM events")}
    assert ids == {"stored-1", "a", "b", "c", "d", "e"}
    # The same group again: everything is a duplicate, for every request.
    again = commit_group(store, [first, second, third])
    assert again == [AppendResult(0, 3), AppendResult(0, 3), AppendResult(0, 2)]
    assert _count(store) == 6
    store.close()


def test_a_group_without_repeats_still_counts_ids_the_ledger_held(tmp_path: Path) -> None:
    """No id repeated inside the group, some already stored: found after the append, per request."""
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    store.append_event_table(_table("old-1", "old-2"))
    results = commit_group(store, [_table("n1", "old-1"), _table("n2", "n3"), _table("old-2")])
    assert results == [AppendResult(1, 1), AppendResult(2, 0), AppendResult(0, 1)]
    assert commit_group(store, [_table("n1"), _table("n2", "old-2")]) == [
        AppendResult(0, 1),
        AppendResult(0, 2),
    ]
    assert _count(store) == 5
    store.close()


def test_lookup_through_plain_sql_matches_the_store_lookup(tmp_path: Path) -> None:
    """Stores without ``stored_event_keys`` (the fallback) are asked with one SQL query per chunk."""

    class PlainStore:
        def __init__(self, inner: DuckDBStore) -> None:
            self.dialect = inner.dialect
            self.query = inner.query
            self.id_memory = inner.id_memory

    store = DuckDBStore(tmp_path / "ledger.duckdb")
    store.append_event_table(_table("x", "y", uuid.uuid4().hex))
    probe = _table("x", "z", "y")
    assert stored_event_keys(store, probe) == stored_event_keys(PlainStore(store), probe)  # type: ignore[arg-type]
    assert len(stored_event_keys(store, probe)) == 2
    store.close()


class HeldStore(DuckDBStore):
    """A real DuckDB ledger whose appends wait until the test releases them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.appending = threading.Event()  # set once an append is waiting
        self.release = threading.Event()
        self.appends = 0

    def append_event_table(self, table: pa.Table) -> AppendResult:
        self.appending.set()
        assert self.release.wait(60), "the test never released the store"
        self.appends += 1
        return super().append_event_table(table)


def test_waiting_batches_are_merged_into_one_append(tmp_path: Path) -> None:
    store = HeldStore(tmp_path / "ledger.duckdb")
    committer = GroupCommitter(store)
    first = committer.submit(_table("r0-e0", "r0-e1", "r0-e2"))
    assert store.appending.wait(30)  # the writer took the first batch: the rest queue behind it
    futures = [first] + [committer.submit(_table(*(f"r{r}-e{i}" for i in range(3)))) for r in range(1, 6)]
    futures.append(committer.submit(_table("r0-e0", "fresh")))  # repeats an id of the first request
    store.release.set()
    results = [f.result(timeout=30) for f in futures]
    assert results[:6] == [AppendResult(3, 0)] * 6
    assert results[6] == AppendResult(1, 1)
    assert store.appends == 2  # the first alone, then the six that waited, in one append
    assert _count(store) == 19
    committer.close()
    store.close()


def test_a_request_given_up_before_its_turn_is_skipped(tmp_path: Path) -> None:
    store = HeldStore(tmp_path / "ledger.duckdb")
    committer = GroupCommitter(store)
    first = committer.submit(_table("first"))
    assert store.appending.wait(30)  # the writer has taken the first one and waits for the store
    gone = committer.submit(_table("gone"))
    kept = committer.submit(_table("kept"))
    assert gone.cancel()
    store.release.set()
    assert first.result(timeout=30) == AppendResult(1, 0)
    assert kept.result(timeout=30) == AppendResult(1, 0)
    assert {r["event_id"] for r in store.query("SELECT event_id FROM events")} == {"first", "kept"}
    committer.close()
    store.close()


def test_a_failed_append_fails_every_request_of_the_group(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    committer = GroupCommitter(store)
    store.close()  # every append now raises
    futures = [committer.submit(_table(f"e{i}")) for i in range(3)]
    for future in futures:
        with pytest.raises(Exception, match=r"(?i)closed|connection"):
            future.result(timeout=30)
    committer.close()
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit(_table("late"))


def _unstorable(event_id: str) -> pa.Table:
    """A table the store cannot take: a started_at in year ~146,000 (past any datetime a reader holds)."""
    table = _table(event_id)
    at = table.schema.get_field_index("started_at")
    year_146k = pa.array([2**62], pa.int64()).cast(pa.timestamp("us"))
    return table.set_column(at, table.schema.field(at), year_146k)


def test_a_batch_the_store_refuses_fails_alone(tmp_path: Path) -> None:
    store = HeldStore(tmp_path / "ledger.duckdb")
    committer = GroupCommitter(store)
    first = committer.submit(_table("first"))
    assert store.appending.wait(30)  # the first append waits; the rest queue behind it as one group
    poison = committer.submit(_unstorable("poison"))
    others = [committer.submit(_table(f"ok{i}", f"ok{i}b")) for i in range(4)]
    store.release.set()
    assert first.result(timeout=30) == AppendResult(1, 0)
    assert [f.result(timeout=30) for f in others] == [AppendResult(2, 0)] * 4
    with pytest.raises(UnstorableBatch, match="OverflowError"):
        poison.result(timeout=30)
    assert _count(store) == 9
    committer.close()
    store.close()


def test_concurrent_posts_each_id_accepted_once(collector: RunningCollector) -> None:
    """Sixteen clients, overlapping ids: every id accepted by exactly one answer, stored once."""
    shared = [f"shared-{i}" for i in range(50)]
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def post(client: int) -> None:
        with collector.client(collector.ingest) as http:
            for n in range(4):
                ids = [f"c{client}-n{n}-{i}" for i in range(40)] + shared[n * 10 : n * 10 + 20]
                r = http.post("/v1/events", json=[_record(e, i) for i, e in enumerate(ids)])
                assert r.status_code == 200, r.text
                with lock:
                    answers.append(r.json())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(post, range(16)))
    accepted = sum(a["accepted"] for a in answers)
    duplicates = sum(a["duplicates"] for a in answers)
    unique = 16 * 4 * 40 + 50
    assert accepted == unique == _count(collector.store)
    assert accepted + duplicates == 16 * 4 * 60


def test_group_counts_on_clickhouse(tmp_path: Path) -> None:
    """ClickHouse has no ``stored_event_keys``: the writer asks it with plain SQL, same counts."""
    pytest.importorskip("chdb")
    from costtrail.ledger.clickhouse_store import ClickHouseStore

    store = ClickHouseStore.from_url(f"chdb://{tmp_path / 'ch'}?database=group_commit")
    try:
        assert store.append_event_table(_table("stored-1")) == AppendResult(1, 0)
        results = commit_group(store, [_table("a", "b", "a"), _table("b", "stored-1", "c")])
        assert results == [AppendResult(2, 1), AppendResult(1, 2)]
        assert int(store.query("SELECT count() AS n FROM events FINAL")[0]["n"]) == 4
    finally:
        store.close()
