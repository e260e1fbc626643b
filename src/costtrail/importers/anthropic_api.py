"""Anthropic Admin API cost report and usage report exports.

Cost report (``GET /v1/organizations/cost_report``): buckets with
``starting_at``/``ending_at`` and results whose ``amount`` is a decimal string
in *cents* (``"123.45"`` is $1.2345), with ``workspace_id``, ``description``,
``cost_type`` (tokens, web_search, code_execution), ``model``, ``token_type``
and ``service_tier``. Usage report (``.../usage_report/messages``): token counts
per model, workspace, key and tier.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from costtrail.importers.parsing import Cells, api_pages, buckets
from costtrail.importers.result import ImportResult, store_lines
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind

CENTS = Decimal(100)
TOKEN_SKU = {
    "uncached_input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
}


def _tags(cells: Cells) -> dict[str, str]:
    names = ("workspace_id", "api_key_id", "service_tier", "context_window", "cost_type", "token_type")
    return {k: v for k in names if (v := cells.text(k))}


def read_anthropic_costs(path: Path) -> tuple[list[CostLine], int]:
    lines: list[CostLine] = []
    rows = 0
    for where, bucket, results in buckets(path, api_pages(path)):
        span = Cells(path.name, where, bucket)
        start, end = span.time("starting_at"), span.time("ending_at")
        for r, result in enumerate(results):
            rows += 1
            cells = Cells(path.name, f"{where}.results[{r}]", result)
            cents = cells.amount("amount")
            dollars = cents / CENTS
            token_type = cells.text("token_type")
            cost_type = cells.text("cost_type")
            lines.append(
                cells.cost_line(
                    source="anthropic-cost-report",
                    charge_period_start=start,
                    charge_period_end=end,
                    billed_cost=dollars,
                    effective_cost=dollars,
                    currency=(cells.text("currency") or "USD").upper(),
                    provider="anthropic",
                    service_name="Claude API",
                    service_category="AI and Machine Learning",
                    model=cells.text("model"),
                    sku=TOKEN_SKU.get(token_type or "", token_type or cost_type),
                    provider_account=cells.text("workspace_id"),
                    charge_description=cells.text("description"),
                    charge_category="Usage",
                    tags=_tags(cells),
                )
            )
    return lines, rows


def _usage_counts(cells: Cells, result: dict[str, Any]) -> dict[str, Decimal]:
    counts: dict[str, Decimal] = {}
    for column in ("uncached_input_tokens", "output_tokens", "cache_read_input_tokens"):
        value = cells.decimal(column)
        if value:
            counts[TOKEN_SKU[column]] = value
    creation = result.get("cache_creation")
    if isinstance(creation, dict):
        sub = Cells(cells.file, f"{cells.row}.cache_creation", creation)
        for column in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
            value = sub.decimal(column)
            if value:
                counts[TOKEN_SKU[f"cache_creation.{column}"]] = value
    tools = result.get("server_tool_use")
    if isinstance(tools, dict):
        searches = Cells(cells.file, f"{cells.row}.server_tool_use", tools).decimal("web_search_requests")
        if searches:
            counts["web_search_requests"] = searches
    for unit, value in counts.items():
        if value < 0 or value != value.to_integral_value():
            raise cells.error(unit, f"{value} is not a whole, non-negative count")
    return counts


def read_anthropic_usage(path: Path) -> tuple[list[CostLine], int]:
    lines: list[CostLine] = []
    rows = 0
    for where, bucket, results in buckets(path, api_pages(path)):
        span = Cells(path.name, where, bucket)
        start, end = span.time("starting_at"), span.time("ending_at")
        for r, result in enumerate(results):
            rows += 1
            cells = Cells(path.name, f"{where}.results[{r}]", result)
            for unit, count in _usage_counts(cells, result).items():
                lines.append(
                    cells.cost_line(
                        kind=CostLineKind.USAGE,
                        source="anthropic-usage-report",
                        charge_period_start=start,
                        charge_period_end=end,
                        billed_cost=Decimal(0),
                        provider="anthropic",
                        service_name="Claude API",
                        service_category="AI and Machine Learning",
                        model=cells.text("model"),
                        provider_account=cells.text("workspace_id"),
                        sku=unit,
                        consumed_quantity=count,
                        consumed_unit=unit,
                        tags=_tags(cells),
                    )
                )
    return lines, rows


def import_anthropic_costs(path: Path, store: LedgerStore) -> ImportResult:
    """Import an Anthropic cost report export (amounts in cents become dollars)."""
    lines, rows = read_anthropic_costs(path)
    return store_lines(store, lines, kind="anthropic-costs", file=path.name, rows=rows)


def import_anthropic_usage(path: Path, store: LedgerStore) -> ImportResult:
    """Import an Anthropic usage report export as usage lines."""
    lines, rows = read_anthropic_usage(path)
    return store_lines(store, lines, kind="anthropic-usage", file=path.name, rows=rows)
