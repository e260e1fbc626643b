"""Group commit: concurrent event batches merged into one store append by a single writer thread.

A DuckDB append costs about the same for 500 rows as for several thousand (a
fixed cost per statement and transaction), so the collector's writer takes
every batch waiting when it becomes free and appends them as one table, in one
transaction. Each request still gets its answer only once *its* rows are
committed, with its own counts:

- a request's repeated ids count once, the repeats as duplicates;
- an id sent by two requests of the same group is accepted for the earlier
  one and a duplicate for the later one;
- an id already in the ledger is a duplicate for whichever request sent it
  (with more than one request in a group the writer asks the store which ids
  it holds before appending; the writer is the collector's only event writer).

If the append fails, nothing of the group was stored, and the writer appends
the group's requests again one by one: a request whose rows the store cannot
take fails alone (:class:`UnstorableBatch` when others of its group went in,
so it is the batch and not the store; the collector answers 422), the others
are stored and answered as usual. When every request fails on its own too,
each gets the store's error (the collector answers 503: send again, ids keep
it exactly once).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

from costtrail.ledger.store import AppendResult, LedgerStore, id_search

log = logging.getLogger("costtrail.collector")

MAX_GROUP_ROWS = 50_000
# Ids per lookup query when a store cannot look a table up itself (a literal IN list).
_LOOKUP_CHUNK = 2_000


@runtime_checkable
class KnowsEventKeys(Protocol):
    """A store that can say which event_uuids of a table it already holds (DuckDBStore)."""

    def stored_event_keys(self, table: pa.Table) -> set[bytes]: ...


class UnstorableBatch(Exception):
    """The store refused this batch's rows while it took the other batches of the same group."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {str(cause)[:200]}")
        self.cause = cause


@dataclass
class _Pending:
    table: pa.Table
    future: Future[AppendResult] = field(default_factory=Future)


def commit_group(store: LedgerStore, tables: Sequence[pa.Table]) -> list[AppendResult]:
    """Append several event tables as one, returning each table's own accepted/duplicate counts."""
    if len(tables) == 1:
        return [store.append_event_table(tables[0])]
    merged = pa.concat_tables(tables)
    ids = merged.column("event_uuid")
    if pc.count_distinct(ids).as_py() == len(ids):
        # No id repeated in the group (the usual case): each table keeps all its rows.
        kept_keys: list[list[bytes]] | None = None
        seen: set[bytes] | None = None
    else:
        merged, kept_keys, seen = _first_copies(tables)
    if isinstance(store, KnowsEventKeys):
        appended = store.append_event_table(merged)
        stored = stored_before(store, merged, appended, seen)
    else:
        stored = stored_event_keys(store, merged)
        appended = store.append_event_table(merged)
    if stored and kept_keys is None:
        kept_keys = [table.column("event_uuid").to_pylist() for table in tables]
    results = []
    for n, table in enumerate(tables):
        mine = table.num_rows if kept_keys is None else sum(1 for k in kept_keys[n] if k not in stored)
        results.append(AppendResult(mine, table.num_rows - mine))
    expected = sum(r.accepted for r in results)
    if appended.accepted != expected:
        # Only another writer on the same ledger between the lookup and the append can cause this.
        log.warning(
            "group commit: the store accepted %d rows, %d were expected new; per-request counts may be off",
            appended.accepted,
            expected,
        )
    return results


def _first_copies(tables: Sequence[pa.Table]) -> tuple[pa.Table, list[list[bytes]], set[bytes]]:
    """The tables merged with each id's first copy only, the ids each table keeps, and all ids."""
    seen: set[bytes] = set()
    kept: list[pa.Table] = []
    kept_keys: list[list[bytes]] = []
    for table in tables:
        keys = table.column("event_uuid").to_pylist()
        mask = []
        mine: list[bytes] = []
        for key in keys:
            first = key not in seen
            mask.append(first)
            if first:
                seen.add(key)
                mine.append(key)
        kept.append(table if len(mine) == len(keys) else table.filter(pa.array(mask, pa.bool_())))
        kept_keys.append(mine)
    return pa.concat_tables(kept), kept_keys, seen


def stored_before(
    store: LedgerStore, merged: pa.Table, appended: AppendResult, keys: set[bytes] | None = None
) -> set[bytes]:
    """Which ids of ``merged`` (``keys``, when known) the ledger held before ``appended`` (DuckDB).

    Usually the append itself says it: every row new, or none. Only a group that mixes new and
    re-sent ids is looked up, after the append: the rows it inserted share the newest
    ``ingested_at`` (DuckDB stamps a transaction's rows with its start time), the others are older.
    Cheaper than asking before every append (the ingest figures are in bench/RESULTS.md).
    """
    if appended.accepted == merged.num_rows:
        return set()
    if appended.accepted == 0:
        return set(merged.column("event_uuid").to_pylist()) if keys is None else set(keys)
    stamps = _ingested_at(store, merged)
    newest = max(stamps.values(), default=None)
    return {key for key, stamp in stamps.items() if stamp != newest}


def _ingested_at(store: LedgerStore, table: pa.Table) -> dict[bytes, datetime]:
    where = _stored_copies(store, table)
    keys = [str(uuid.UUID(bytes=k)) for k in table.column("event_uuid").to_pylist()]
    found: dict[bytes, datetime] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        listed = ", ".join(store.dialect.literal(k) for k in keys[start : start + _LOOKUP_CHUNK])
        rows = store.query(
            f"SELECT CAST(event_uuid AS VARCHAR) AS k, max(ingested_at) AS t FROM events "
            f"WHERE ({where}) AND event_uuid IN ({listed}) GROUP BY 1"
        )
        found.update((uuid.UUID(str(r["k"])).bytes, r["t"]) for r in rows)
    return found


def _stored_copies(store: LedgerStore, table: pa.Table) -> str:
    """Where the store searches stored copies of ``table``'s ids (``id_search``), as one condition."""
    bounds = pc.min_max(table.column("started_at"))
    return " OR ".join(
        id_search(store.dialect, bounds["min"].as_py(), bounds["max"].as_py(), store.id_memory)
    )


def stored_event_keys(store: LedgerStore, table: pa.Table) -> set[bytes]:
    """The event_uuids of ``table`` the store already holds (where ``id_search`` looks)."""
    if table.num_rows == 0:
        return set()
    if isinstance(store, KnowsEventKeys):
        return store.stored_event_keys(table)
    where = _stored_copies(store, table)
    keys = [str(uuid.UUID(bytes=k)) for k in table.column("event_uuid").to_pylist()]
    found: set[bytes] = set()
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        listed = ", ".join(store.dialect.literal(k) for k in keys[start : start + _LOOKUP_CHUNK])
        rows = store.query(
            f"SELECT DISTINCT CAST(event_uuid AS VARCHAR) AS k FROM events "
            f"WHERE ({where}) AND event_uuid IN ({listed})"
        )
        found.update(uuid.UUID(str(r["k"])).bytes for r in rows)
    return found


class GroupCommitter:
    """The collector's event writer: one thread, one store append per group of waiting batches.

    >>> from costtrail.ledger.columnar import event_batch
    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> from costtrail.pricing import Pricer
    >>> table = Pricer().price_table(event_batch([{"model": "gpt-4o-mini", "input_tokens": 9}]).table)
    >>> store = DuckDBStore(":memory:")
    >>> committer = GroupCommitter(store)
    >>> committer.submit(table).result()
    AppendResult(accepted=1, duplicates=0)
    >>> committer.close(); store.close()
    """

    def __init__(self, store: LedgerStore, *, max_rows: int = MAX_GROUP_ROWS) -> None:
        self._store = store
        self._max_rows = max_rows
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.groups = 0  # appends made (each one transaction); with ``batches``, shows the merging
        self.batches = 0

    def submit(self, table: pa.Table) -> Future[AppendResult]:
        """Queue a priced event table; the future resolves once its rows are committed (or failed)."""
        pending = _Pending(table)
        if table.num_rows == 0:
            pending.future.set_result(AppendResult(0, 0))
            return pending.future
        with self._lock:
            if self._closed:
                raise RuntimeError("the collector's event writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="costtrail-group-commit", daemon=True)
                self._thread.start()
            self._queue.put(pending)
        return pending.future

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            rows = first.table.num_rows
            while rows < self._max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
                rows += item.table.num_rows
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        # A request whose caller went away (its future cancelled) is not appended: nobody waits for
        # its answer, and its client will send it again.
        group = [p for p in group if p.future.set_running_or_notify_cancel()]
        if not group:
            return
        try:
            results = commit_group(self._store, [p.table for p in group])
        except BaseException as exc:  # every waiting request must hear of it, whatever it was
            if len(group) == 1:
                group[0].future.set_exception(exc)
            else:
                log.warning(
                    "group commit of %d batches failed (%s); appending them one by one", len(group), exc
                )
                self._commit_one_by_one(group)
            return
        self.groups += 1
        self.batches += len(group)
        for p, result in zip(group, results, strict=True):
            p.future.set_result(result)

    def _commit_one_by_one(self, group: list[_Pending]) -> None:
        """Each request of a failed group in its own append: only a request the store refuses fails."""
        failed: list[tuple[_Pending, BaseException]] = []
        stored = 0
        for p in group:
            try:
                result = self._store.append_event_table(p.table)
            except BaseException as error:  # handed to the waiting request below
                failed.append((p, error))
                continue
            stored += 1
            self.groups += 1
            self.batches += 1
            p.future.set_result(result)
        for p, refusal in failed:
            p.future.set_exception(UnstorableBatch(refusal) if stored else refusal)
