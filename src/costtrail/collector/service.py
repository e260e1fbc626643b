"""The collector object: what every route works with, and the lifecycles it owns.

Like datasette's ``Database`` owns its write thread, a :class:`Collector` owns
the event writer (one thread: :mod:`~costtrail.collector.group_commit`) and the
worker processes (:mod:`~costtrail.collector.workers`): each is made in one
place, started on first use or by :meth:`Collector.start`, and closed by
:meth:`Collector.stop`. Routes reach it as ``request.app.state.collector``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from costtrail.auth import KeyRing
from costtrail.auth.throttle import AuthThrottle
from costtrail.billing import PricePlans
from costtrail.collector.group_commit import GroupCommitter
from costtrail.collector.payload import Limits
from costtrail.collector.run_owners import RunOwners
from costtrail.collector.workers import PreparePool
from costtrail.export.prometheus import LedgerMetrics
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.settings import Settings


@dataclass
class Collector:
    """The collector's parts: settings, ledger, keys, pricer and limits, its writer and its workers."""

    settings: Settings
    store: LedgerStore
    keys: KeyRing
    pricer: Pricer
    limits: Limits
    workers: int = 0  # processes that prepare event batches (collector.workers); 0: all in this one
    run_owners: RunOwners | None = None  # refuses a tenant key's records for another tenant's run
    plans: PricePlans | None = None  # price plans for the invoice routes (settings.plans)
    throttle: AuthThrottle = field(default_factory=AuthThrottle)  # 429 for a client guessing keys
    _writer: GroupCommitter | None = field(default=None, init=False, repr=False)
    _pool: PreparePool | None = field(default=None, init=False, repr=False)
    _metrics: LedgerMetrics | None = field(default=None, init=False, repr=False)

    @property
    def writer(self) -> GroupCommitter:
        """The one event writer; started on first use (on the event loop: no race to create it)."""
        if self._writer is None:
            self._writer = GroupCommitter(self.store)
        return self._writer

    @property
    def pool(self) -> PreparePool | None:
        """The worker processes for event batches (None: batches are prepared in this process)."""
        if self.workers and self._pool is None:
            self._pool = PreparePool(self.workers, self.pricer, self.limits)
        return self._pool

    @property
    def metrics(self) -> LedgerMetrics:
        """What ``GET /metrics`` counts: the rows this ledger took in since the last scrape."""
        if self._metrics is None:
            self._metrics = LedgerMetrics(self.store)
        return self._metrics

    def start(self) -> None:
        """Start the workers now, so their imports are done before the first batch."""
        _ = self.pool

    def stop(self) -> None:
        """Finish what the workers hold, commit what the writer holds, stop both.

        Served again afterwards (a restart in one process), the collector starts a new pool and
        writer on first use. The store stays open: it belongs to whoever opened it.
        """
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
