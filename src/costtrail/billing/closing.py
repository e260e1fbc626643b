"""Closed invoices: a period's invoices frozen as issued, so a later reprice never changes them.

``close`` writes the period's invoice run (lines, totals and the prices it used: plan
versions and the ledger's price refs) to ``DIR/PERIOD.json`` once; a closed period is not
written again. :func:`compare` reads it back beside a live preview of the same period and
says what changed since (a reprice, late events): the closed invoice is what was billed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from costtrail.billing.invoice import InvoiceError, InvoiceRun


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def closed_path(directory: str | Path, period: str) -> Path:
    return Path(directory) / f"{period}.json"


def close(run: InvoiceRun, directory: str | Path) -> Path:
    """Freeze ``run`` as the period's issued invoices; refuses a period already closed."""
    path = closed_path(directory, run.period)
    if path.exists():
        raise InvoiceError(f"{run.period} is closed already ({path}): a closed invoice is never rewritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**run.as_dict(), "closed_at": datetime.now(UTC)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, default=_encode, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


_AMOUNTS = frozenset(
    {"quantity", "included", "billable_quantity", "unit_price", "per", "amount", "cost", "margin", "total",
     "margin_pct", "from", "up_to"}
)  # fmt: skip


def _decimals(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _decimals(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v, key) for v in value]
    if key in _AMOUNTS and isinstance(value, str):
        return Decimal(value)
    return value


def load_closed(directory: str | Path, period: str) -> dict[str, Any] | None:
    """The closed invoices of ``period`` (amounts as Decimal), or ``None`` when it is not closed."""
    path = closed_path(directory, period)
    return _decimals(json.loads(path.read_text())) if path.exists() else None


@dataclass(frozen=True)
class Drift:
    """What a live preview says now against the closed invoice of a customer."""

    customer_id: str
    closed_total: Decimal
    live_total: Decimal | None
    closed_cost: Decimal | None
    live_cost: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "closed_total": self.closed_total,
            "live_total": self.live_total,
            "closed_cost": self.closed_cost,
            "live_cost": self.live_cost,
        }


def compare(closed: dict[str, Any], live: InvoiceRun) -> list[Drift]:
    """Customers whose total or cost differs now from the closed invoice (a reprice, late events)."""
    now = {i.customer_id: i for i in live.invoices}
    out = []
    for invoice in closed["invoices"]:
        cid = invoice["customer_id"]
        closed_total = Decimal(invoice["total"])
        closed_cost = None if invoice["cost"] is None else Decimal(invoice["cost"])
        current = now.get(cid)
        live_total = current.total if current else None
        live_cost = current.cost if current else None
        if live_total != closed_total or live_cost != closed_cost:
            out.append(Drift(cid, closed_total, live_total, closed_cost, live_cost))
    return out
