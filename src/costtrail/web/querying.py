"""How pages reach the store: every query counted, independent queries run side by side.

A page asks the report API several independent questions (the headline, the
daily trend, the movers, ...). :func:`together` runs them at once on a thread
pool when the store allows concurrent reads (DuckDB: one cursor per query on
one connection; a ClickHouse HTTP client without a session), else one after
another. :class:`CountingStore` wraps the store for one request so the
``Server-Timing`` header (and the tests) can say how many queries a page made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pyarrow as pa

from costtrail.ledger.store import LedgerStore

T = TypeVar("T")
# At most two calls of a page in flight: each DuckDB query already uses every core, and on a
# 2-core machine four at once measured slower than one by one (bench_dashboard); two overlap
# one query's Python work (building rows, Decimals) with the other's scan.
WORKERS = 2


class CountingStore:
    """A store that counts (and times) the queries made through it; everything else passes through."""

    def __init__(self, store: LedgerStore, *, parallel: bool = True) -> None:
        self.inner = store
        self.parallel = parallel
        self.queries = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _timed(self, run: Callable[[str], T], sql: str) -> T:
        import time

        started = time.perf_counter()
        try:
            return run(sql)
        finally:
            with self._lock:
                self.queries += 1
                self.seconds += time.perf_counter() - started

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self._timed(self.inner.query, sql)

    def query_arrow(self, sql: str) -> pa.Table:
        return self._timed(self.inner.query_arrow, sql)


def concurrent_reads(store: Any) -> bool:
    """True when queries may run at once on ``store`` (checked on the unwrapped store; a
    :class:`CountingStore` made with ``parallel=False`` runs them in turn)."""
    if isinstance(store, CountingStore) and not store.parallel:
        return False
    inner = store.inner if isinstance(store, CountingStore) else store
    return isinstance(inner, LedgerStore) and inner.capabilities.concurrent_reads


def together(store: Any, *work: Callable[[], Any]) -> list[Any]:
    """Run independent report calls, concurrently when the store allows; results in order.

    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> from costtrail.reports import report
    >>> store = DuckDBStore(":memory:")
    >>> head, daily = together(store, lambda: report(store, by=[]), lambda: report(store, by=["day"]))
    >>> len(daily)
    0
    >>> store.close()
    """
    if len(work) < 2 or not concurrent_reads(store):
        return [w() for w in work]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(work))) as pool:
        futures = [pool.submit(w) for w in work]
        return [f.result() for f in futures]
