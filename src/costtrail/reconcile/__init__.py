"""Reconciliation: provider bills joined to telemetry by day x provider x model x account."""

from costtrail.reconcile.engine import (
    BATCH_NOT_REFLECTED,
    CACHE_NOT_REFLECTED,
    DISCOUNT,
    MISSING_TELEMETRY,
    STALE_PRICE,
    UNEXPLAINED,
    UNPRICED,
    UNTRACKED_EVENTS,
    Finding,
    Reconciliation,
    ReconLine,
    Tolerance,
    reconcile,
    true_up,
)

__all__ = [
    "BATCH_NOT_REFLECTED",
    "CACHE_NOT_REFLECTED",
    "DISCOUNT",
    "MISSING_TELEMETRY",
    "STALE_PRICE",
    "UNEXPLAINED",
    "UNPRICED",
    "UNTRACKED_EVENTS",
    "Finding",
    "ReconLine",
    "Reconciliation",
    "Tolerance",
    "reconcile",
    "true_up",
]
