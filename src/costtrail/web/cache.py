"""Built pages kept while the ledger is unchanged, so a second look is instant.

A run-success report over a million events takes the database most of a
second; a person clicking between pages and back asks the same questions
again. Each entry remembers the ledger's *version* (event, outcome and
cost-line counts and the sum of event costs, read in one cheap query): any
ingest, import or reprice changes it and the page is rebuilt with the new
numbers. Entries also expire after ``max_age`` seconds and the cache holds
at most ``size`` entries (least recently used go first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from costtrail.ledger.store import LedgerStore

T = TypeVar("T")


class LedgerVersionCache:
    """A small LRU of built results, valid while the ledger's version is unchanged."""

    def __init__(self, store: LedgerStore, *, size: int = 256, max_age: float = 60.0) -> None:
        self.store = store
        self.size = size
        self.max_age = max_age
        self._entries: OrderedDict[Hashable, tuple[Any, Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def version(self) -> tuple[Any, ...]:
        """What changes when the ledger does: cheap next to the pages it spares."""
        final = self.store.dialect.final
        row = self.store.query(
            f"SELECT (SELECT count(*) FROM {final('events')}) AS events, "
            f"(SELECT sum(cost_usd) FROM {final('events')}) AS cost, "
            f"(SELECT count(*) FROM {final('outcomes')}) AS outcomes, "
            f"(SELECT count(*) FROM {final('cost_lines')}) AS cost_lines"
        )[0]
        return tuple(row.values())

    def get(self, key: Hashable, build: Callable[[], T], version: tuple[Any, ...]) -> tuple[T, bool]:
        """The cached value for ``key`` at ``version``, or a freshly built one; True when cached."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[1] == version and now - hit[2] < self.max_age:
                self._entries.move_to_end(key)
                return hit[0], True
        value = build()
        with self._lock:
            self._entries[key] = (value, version, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value, False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
