"""Storing imported cost lines: stable ids (so a re-import stores nothing) and what happened."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from costtrail.ledger.columns import AMOUNT_SCALE, QTY_SCALE
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind


@dataclass(frozen=True)
class ImportResult:
    """What one import did: rows read, lines stored, lines already there, skipped rows and money."""

    kind: str
    file: str
    rows: int
    accepted: int
    duplicates: int
    skipped: int
    billed_cost: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "billed_cost": self.billed_cost,
        }


_AMOUNT = Decimal(1).scaleb(-AMOUNT_SCALE)
_QTY = Decimal(1).scaleb(-QTY_SCALE)
_AMOUNT_FIELDS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")
_QTY_FIELDS = ("pricing_quantity", "consumed_quantity", "signal_quantity", "ratio")


def fit_ledger_scale(line: CostLine) -> CostLine:
    """Round amounts to the ledger's 12 places and quantities to 9 (FOCUS files carry up to 15)."""
    update: dict[str, Decimal] = {}
    for name in _AMOUNT_FIELDS:
        value = getattr(line, name)
        if value is not None and value != value.quantize(_AMOUNT):
            update[name] = value.quantize(_AMOUNT)
    for name in _QTY_FIELDS:
        value = getattr(line, name)
        if value is not None and value != value.quantize(_QTY):
            update[name] = value.quantize(_QTY)
    return line.model_copy(update=update) if update else line


def with_stable_ids(lines: Sequence[CostLine]) -> list[CostLine]:
    """Give identical lines in one file distinct, repeatable ids.

    Two identical charges in one bill are two charges: the n-th repeat of a
    content fingerprint gets ``#n`` mixed into its id, so a re-import of the same
    file yields the same ids and stores nothing, while no real charge is dropped.
    """
    seen: Counter[str] = Counter()
    out: list[CostLine] = []
    for raw in lines:
        line = fit_ledger_scale(raw)
        base = line.fingerprint()
        n = seen[base]
        seen[base] += 1
        line_id = base if n == 0 else hashlib.sha256(f"{base}#{n}".encode()).hexdigest()[:32]
        out.append(line.model_copy(update={"line_id": line_id}))
    return out


def store_lines(
    store: LedgerStore, lines: Sequence[CostLine], *, kind: str, file: str, rows: int, skipped: int = 0
) -> ImportResult:
    """Append the lines (idempotent by id) and summarize."""
    stable = with_stable_ids(lines)
    appended = store.append_cost_lines(stable)
    billed = sum((ln.billed_cost for ln in stable if ln.kind != CostLineKind.USAGE), Decimal(0))
    return ImportResult(kind, file, rows, appended.accepted, appended.duplicates, skipped, billed)
