"""Ledger: the append-only, idempotent store of events, outcomes and cost lines."""

from costtrail.ledger.open import DEFAULT_LEDGER, open_store
from costtrail.ledger.store import AppendResult, Dialect, LedgerError, LedgerLockedError, LedgerStore

__all__ = [
    "DEFAULT_LEDGER",
    "AppendResult",
    "Dialect",
    "LedgerError",
    "LedgerLockedError",
    "LedgerStore",
    "open_store",
]
