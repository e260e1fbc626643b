"""A run belongs to the tenant that first wrote it.

A key bound to tenant A could otherwise add events (or outcomes) to tenant B's
run by naming B's ``run_id``: B's run then holds a foreign event, B's key no
longer sees it (a run with another tenant's event is hidden from tenant keys)
and B's success counts change. So a record from a tenant-bound key whose
``run_id`` already has stored events of any other tenant (or of none) is
refused with 403, naming ``run_id``; the rest of its batch is kept.

The check asks the ledger about the batch's run ids that this collector has
not yet seen accepted for the same tenant (a bounded memory of recent runs
keeps a long run's later batches from asking again). Untenanted keys (admin,
single-tenant deployments) are trusted and never checked. Two tenants that
start the same brand-new run id within the same instant can both get in: the
check and the append are not one transaction.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from costtrail.ledger.store import LedgerStore

_LOOKUP_CHUNK = 1_000
RUN_OWNED = "belongs to another tenant: a run is its first writer's; use a new run_id (or that tenant's key)"


class RunOwners:
    """Which runs a tenant may write to, remembered for the last ``remember`` runs it wrote."""

    def __init__(self, store: LedgerStore, remember: int = 100_000) -> None:
        self._store = store
        self._remember = remember
        self._lock = threading.Lock()
        self._known: OrderedDict[str, str] = OrderedDict()  # run_id -> the tenant it belongs to

    def foreign(self, tenant: str, run_ids: Iterable[str]) -> set[str]:
        """The run ids that hold a stored event of a tenant other than ``tenant`` (or of none)."""
        wanted = set(run_ids)
        with self._lock:
            unknown = [r for r in wanted if self._known.get(r) != tenant]
        if not unknown:
            return set()
        d = self._store.dialect
        found: set[str] = set()
        for start in range(0, len(unknown), _LOOKUP_CHUNK):
            listed = ", ".join(d.literal(r) for r in unknown[start : start + _LOOKUP_CHUNK])
            rows = self._store.query(
                f"SELECT DISTINCT run_id FROM {d.final('events')} WHERE run_id IN ({listed}) "
                f"AND (tenant_id IS NULL OR tenant_id <> {d.literal(tenant)})"
            )
            found.update(str(r["run_id"]) for r in rows)
        with self._lock:
            for run in unknown:
                if run not in found:
                    self._known[run] = tenant
                    self._known.move_to_end(run)
            while len(self._known) > self._remember:
                self._known.popitem(last=False)
        return found
