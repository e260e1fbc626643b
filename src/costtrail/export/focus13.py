"""FOCUS 1.3 export: the 1.2 rows (:mod:`costtrail.export.focus_export`) with 1.3's columns.

What 1.3 adds, and how costtrail fills it:

- ``ServiceProviderName`` / ``HostProviderName`` (mandatory, never null): the provider that
  serves the model API; costtrail's telemetry is of provider APIs, so the provider hosts its
  own service (a bill's provider for imported lines).
- ``SkuPriceDetails`` (JSON key-value, null when ``SkuPriceId`` is null): the model's
  identity, ``x_Model``, ``x_Provider`` and ``x_ServiceTier`` (custom keys start with ``x_``).
- Split cost allocation (``Allocated*``), from costtrail's allocation rules: the *origin
  charge* is one rule's pool in one allocation period; each allocated or unallocated line of
  it is an *allocated charge*.

  * ``AllocatedMethodId``: the rule id (null on rows not made by a rule);
  * ``AllocatedMethodDetails``: ``{"Elements": [{"AllocatedRatio", "UsageUnit",
    "UsageQuantity"}], "x_Method": ...}``; the ratio is the line's share of its pool, so the
    ratios of one origin charge sum to 1; ``UsageUnit`` is the rule's signal;
  * ``AllocatedResourceId`` / ``AllocatedResourceName``: the target (``customer:acme`` /
    ``acme``), null on the unallocated portion;
  * ``AllocatedTags``: ``{target dimension: target}`` on allocated lines, never a tag already
    in ``Tags`` (1.2's export puts the target in ``Tags``; 1.3 moves it here).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from costtrail.export.focus_export import COLUMNS, SOURCES, focus_records, write_focus
from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore

FOCUS_13_VERSION = "1.3"
NEW_COLUMNS: tuple[str, ...] = (
    "AllocatedResourceName",
    "HostProviderName",
    "ServiceProviderName",
    "SkuPriceDetails",
)
COLUMNS_13: tuple[str, ...] = (*COLUMNS, *NEW_COLUMNS)
_ALLOCATION = ("allocated", "unallocated")


def _sku_price_details(row: dict[str, Any]) -> dict[str, str] | None:
    if row.get("SkuPriceId") is None:
        return None
    details = {
        "x_Model": row.get("x_Model") or row.get("SkuId"),
        "x_Provider": row.get("ProviderName"),
        "x_ServiceTier": row.get("x_ServiceTier"),
    }
    return {k: str(v) for k, v in details.items() if v is not None} or None


def _allocation(row: dict[str, Any], pool_total: Decimal) -> None:
    """Fill the split-cost-allocation columns of one allocated or unallocated line."""
    target = (row.get("AllocatedTags") or {}) if row["x_CostSource"] == "allocated" else {}
    dimension, value = next(iter(target.items()), (None, None))
    share = Decimal(row["BilledCost"]) / pool_total if pool_total else Decimal(0)
    element: dict[str, Any] = {"AllocatedRatio": float(share)}
    if row.get("x_Signal"):
        element["UsageUnit"] = str(row["x_Signal"])
        if row.get("x_SignalQuantity") is not None:
            element["UsageQuantity"] = float(row["x_SignalQuantity"])
    method = (
        json.loads(row["AllocatedMethodDetails"]).get("method") if row.get("AllocatedMethodDetails") else None
    )
    details: dict[str, Any] = {"Elements": [element]}
    if method:
        details["x_Method"] = method
    row["AllocatedMethodDetails"] = details
    real = value is not None and value != "(unallocated)"
    row["AllocatedResourceId"] = f"{dimension}:{value}" if real else None
    row["AllocatedResourceName"] = value if real else None
    row["AllocatedTags"] = {dimension: value} if real and dimension else None
    if real and dimension:
        row["Tags"] = {k: v for k, v in (row.get("Tags") or {}).items() if k != dimension}


def focus13_records(
    store: LedgerStore, period: Period, sources: Sequence[str] = SOURCES
) -> list[dict[str, Any]]:
    """The period's FOCUS 1.3 rows (every column in :data:`COLUMNS_13`; JSON columns as dicts)."""
    rows = focus_records(store, period, sources)
    pools: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["x_CostSource"] in _ALLOCATION:
            pools[(r["AllocatedMethodId"], r["ChargePeriodStart"])] += Decimal(r["BilledCost"])
    out = []
    for r in rows:
        row = {**{c: None for c in NEW_COLUMNS}, **r}
        row["ServiceProviderName"] = row["ProviderName"]
        row["HostProviderName"] = row["ProviderName"]
        row["SkuPriceDetails"] = _sku_price_details(row)
        if row["x_CostSource"] in _ALLOCATION:
            _allocation(row, pools[(row["AllocatedMethodId"], row["ChargePeriodStart"])])
        else:
            for c in ("AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedTags"):
                row[c] = None
        out.append(row)
    return out


def export_focus13(
    store: LedgerStore, period: Period, path: Path, fmt: str = "csv", sources: Sequence[str] = SOURCES
) -> int:
    """Export the period as a FOCUS 1.3 file (CSV with JSON cells, or Parquet); returns the row count."""
    return write_focus(focus13_records(store, period, sources), path, fmt, columns=COLUMNS_13)
