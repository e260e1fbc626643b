"""FOCUS 1.0-1.3 cost and usage files (any cloud's FOCUS export, CSV or Parquet) as cost lines."""

from __future__ import annotations

from pathlib import Path

from costtrail.importers.parsing import Cells
from costtrail.importers.result import ImportResult, store_lines
from costtrail.importers.tables import read_table, require_columns
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind

REQUIRED: dict[str, tuple[str, ...]] = {
    "billed_cost": ("BilledCost",),
    "start": ("ChargePeriodStart",),
    "end": ("ChargePeriodEnd",),
    "currency": ("BillingCurrency",),
}
# FOCUS 1.3 renamed ProviderName to ServiceProviderName; either is read.
PROVIDER = ("ProviderName", "ServiceProviderName", "x_Provider")
MODEL = ("x_Model", "x_model")
ACCOUNT = ("SubAccountId", "BillingAccountId")


def _first(cells: Cells, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = cells.text(name)
        if value is not None:
            return value
    return None


def focus_row_to_line(cells: Cells, source_file: str) -> CostLine:
    """One FOCUS row as a cost line (allocated rows keep their Allocated* provenance in tags)."""
    provider = _first(cells, PROVIDER)
    tags = cells.json_map("Tags")
    for column in ("BillingAccountId", "SubAccountName", "RegionId", "InvoiceId", "ChargeFrequency"):
        value = cells.text(column)
        if value is not None:
            tags.setdefault(f"focus.{column}", value)
    tier = cells.text("x_ServiceTier")
    if tier:
        tags["service_tier"] = tier
    return cells.cost_line(
        kind=CostLineKind.BILLED,
        source=f"focus:{(provider or 'unknown').lower()}",
        charge_period_start=cells.time("ChargePeriodStart"),
        charge_period_end=cells.time("ChargePeriodEnd"),
        billed_cost=cells.amount("BilledCost"),
        effective_cost=cells.decimal("EffectiveCost"),
        list_cost=cells.decimal("ListCost"),
        contracted_cost=cells.decimal("ContractedCost"),
        currency=cells.required_text("BillingCurrency"),
        provider=provider.lower() if provider else None,
        service_name=cells.text("ServiceName"),
        service_category=cells.text("ServiceCategory"),
        resource_id=cells.text("ResourceId"),
        resource_name=cells.text("ResourceName"),
        sku=cells.text("SkuPriceId") or cells.text("SkuId"),
        model=_first(cells, MODEL),
        provider_account=_first(cells, ACCOUNT),
        pricing_quantity=cells.decimal("PricingQuantity"),
        pricing_unit=cells.text("PricingUnit"),
        consumed_quantity=cells.decimal("ConsumedQuantity"),
        consumed_unit=cells.text("ConsumedUnit"),
        charge_description=cells.text("ChargeDescription"),
        charge_category=cells.text("ChargeCategory"),
        tags=tags,
    )


def read_focus(path: Path) -> tuple[list[CostLine], int]:
    """Parse a FOCUS file; returns the lines and the number of rows read."""
    header, rows = read_table(path)
    require_columns(path, header, REQUIRED)
    lines = [focus_row_to_line(Cells(path.name, n, row), path.name) for n, row in enumerate(rows, 1)]
    return lines, len(rows)


def import_focus(path: Path, store: LedgerStore) -> ImportResult:
    """Import a FOCUS CSV or Parquet file; re-importing it stores nothing new.

    For a provider's FOCUS export of 1000 rows::

        import_focus(Path("focus_sample.csv"), store).accepted  # 1000, then 0 once imported
    """
    lines, rows = read_focus(path)
    return store_lines(store, lines, kind="focus", file=path.name, rows=rows)
