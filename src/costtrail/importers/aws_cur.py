"""AWS Cost and Usage Report 2.0 rows for Amazon Bedrock (CSV or Parquet).

Bedrock usage types name the region, the model and the meter, e.g.
``USE1-Claude3.5Sonnet-input-tokens``, ``USE1-Claude3.5Sonnet-output-tokens``,
``USE1-Claude3.7Sonnet-cache-read-input-token-count`` or
``USW2-NovaPro-batch-input-tokens``. When resource ids are on, the model's id is
in the foundation-model ARN of ``line_item_resource_id``. Rows of other
services are skipped (counted).
"""

from __future__ import annotations

import re
from pathlib import Path

from costtrail.importers.parsing import Cells
from costtrail.importers.result import ImportResult, store_lines
from costtrail.importers.tables import read_table, require_columns
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine

REQUIRED: dict[str, tuple[str, ...]] = {
    "start": ("line_item_usage_start_date",),
    "end": ("line_item_usage_end_date",),
    "product": ("line_item_product_code",),
    "usage_type": ("line_item_usage_type",),
    "cost": ("line_item_unblended_cost",),
}
BEDROCK_CODES = frozenset({"AmazonBedrock", "AmazonBedrockService"})
# Longest suffix first, so cache-read is not read as plain input.
_METERS: tuple[tuple[str, str], ...] = (
    ("-cache-read-input-token-count", "cache_read"),
    ("-cache-write-input-token-count", "cache_write"),
    ("-batch-input-tokens", "input"),
    ("-batch-output-tokens", "output"),
    ("-input-tokens", "input"),
    ("-output-tokens", "output"),
    ("-input-token-count", "input"),
    ("-output-token-count", "output"),
)
_REGION_PREFIX = re.compile(r"^[A-Z]{2,4}\d?-")
_FOUNDATION_MODEL = re.compile(r":foundation-model/(.+)$")


def parse_usage_type(usage_type: str) -> tuple[str, str | None, bool]:
    """``USE1-Claude3.5Sonnet-input-tokens`` -> (``Claude3.5Sonnet``, ``input``, batch?)."""
    rest = _REGION_PREFIX.sub("", usage_type, count=1)
    for suffix, sku in _METERS:
        if rest.endswith(suffix):
            return rest[: -len(suffix)], sku, "-batch-" in suffix
    return rest, None, False


def cur_row_to_line(cells: Cells, usage_type: str) -> CostLine:
    model_token, sku, batch = parse_usage_type(usage_type)
    resource = cells.text("line_item_resource_id")
    arn_model = _FOUNDATION_MODEL.search(resource or "")
    tags = cells.json_map("resource_tags") if "resource_tags" in cells.data else {}
    tags["usage_type"] = usage_type
    if batch:
        tags["service_tier"] = "batch"
    region = cells.text("product_region_code")
    if region:
        tags["region"] = region
    unblended = cells.amount("line_item_unblended_cost")
    net = cells.decimal("line_item_net_unblended_cost")
    return cells.cost_line(
        source="aws-cur",
        charge_period_start=cells.time("line_item_usage_start_date"),
        charge_period_end=cells.time("line_item_usage_end_date"),
        billed_cost=unblended,
        effective_cost=net if net is not None else unblended,
        list_cost=cells.decimal("pricing_public_on_demand_cost"),
        currency=cells.text("line_item_currency_code") or "USD",
        provider="aws",
        service_name="Amazon Bedrock",
        service_category="AI and Machine Learning",
        resource_id=resource,
        sku=sku,
        model=arn_model.group(1) if arn_model else model_token,
        provider_account=cells.text("line_item_usage_account_id"),
        pricing_quantity=cells.decimal("line_item_usage_amount"),
        pricing_unit=cells.text("pricing_unit"),
        consumed_quantity=cells.decimal("line_item_usage_amount"),
        consumed_unit=cells.text("pricing_unit"),
        charge_description=cells.text("line_item_line_item_description"),
        charge_category=_charge_category(cells.text("line_item_line_item_type")),
        tags=tags,
    )


def _charge_category(line_item_type: str | None) -> str:
    if line_item_type in (None, "Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"):
        return "Usage"
    if line_item_type in ("Credit", "Refund"):
        return "Credit"
    if line_item_type == "Tax":
        return "Tax"
    return "Adjustment"


def read_aws_cur(path: Path) -> tuple[list[CostLine], int, int]:
    """(Bedrock lines, rows read, rows of other services skipped)."""
    header, rows = read_table(path)
    require_columns(path, header, REQUIRED)
    lines: list[CostLine] = []
    skipped = 0
    for n, row in enumerate(rows, start=1):
        cells = Cells(path.name, n, row)
        if cells.text("line_item_product_code") not in BEDROCK_CODES:
            skipped += 1
            continue
        lines.append(cur_row_to_line(cells, cells.required_text("line_item_usage_type")))
    return lines, len(rows), skipped


def import_aws_cur(path: Path, store: LedgerStore) -> ImportResult:
    """Import the Bedrock rows of a CUR 2.0 file (CSV or Parquet)."""
    lines, rows, skipped = read_aws_cur(path)
    return store_lines(store, lines, kind="aws-cur", file=path.name, rows=rows, skipped=skipped)
