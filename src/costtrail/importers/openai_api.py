"""OpenAI organization Costs API and Usage API exports.

``GET /v1/organization/costs`` and ``GET /v1/organization/usage/completions``.

Costs buckets hold results with ``amount.value`` (USD), ``line_item`` (e.g.
``"gpt-4o-2024-08-06, input"`` when grouped by line item), ``project_id`` and,
when grouped by key, ``api_key_id``. Usage buckets hold token counts per model,
project and key (``input_tokens`` inclusive of ``input_cached_tokens``).
"""

from __future__ import annotations

from pathlib import Path

from costtrail.importers.parsing import Cells, api_pages, buckets
from costtrail.importers.result import ImportResult, store_lines
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind

# The part of a line item after the comma, as the OpenAI dashboard spells it.
_LINE_ITEM_SKU = {
    "input": "input",
    "output": "output",
    "cached input": "cache_read",
    "cached_input": "cache_read",
    "batch input": "input",
    "batch output": "output",
}
USAGE_TOKENS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "input_cached_tokens": "cache_read_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "num_model_requests": "requests",
}


def split_line_item(line_item: str | None) -> tuple[str | None, str | None, bool]:
    """``"gpt-4o-2024-08-06, cached input"`` -> (model, sku, batch)."""
    if not line_item:
        return None, None, False
    model, _, kind = line_item.partition(",")
    kind = kind.strip().lower()
    batch = "batch" in kind
    return model.strip() or None, _LINE_ITEM_SKU.get(kind, kind or None), batch


def _account(cells: Cells) -> tuple[str | None, dict[str, str]]:
    project, key = cells.text("project_id"), cells.text("api_key_id")
    tags = {k: v for k, v in (("project_id", project), ("api_key_id", key)) if v}
    return project or key, tags


def read_openai_costs(path: Path) -> tuple[list[CostLine], int]:
    lines: list[CostLine] = []
    rows = 0
    for where, bucket, results in buckets(path, api_pages(path)):
        span = Cells(path.name, where, bucket)
        start, end = span.time("start_time"), span.time("end_time")
        for r, result in enumerate(results):
            rows += 1
            cells = Cells(path.name, f"{where}.results[{r}]", result)
            amount = result.get("amount")
            if not isinstance(amount, dict):
                raise cells.error("amount", "expected an object with value and currency")
            money = Cells(path.name, f"{where}.results[{r}]", amount)
            currency = (money.text("currency") or "usd").upper()
            model, sku, batch = split_line_item(cells.text("line_item"))
            account, tags = _account(cells)
            if batch:
                tags["service_tier"] = "batch"
            value = money.decimal("value")
            if value is None:
                raise cells.error("amount.value", "is empty: an amount is required")
            lines.append(
                cells.cost_line(
                    source="openai-costs-api",
                    charge_period_start=start,
                    charge_period_end=end,
                    billed_cost=value,
                    effective_cost=value,
                    currency=currency,
                    provider="openai",
                    service_name="OpenAI API",
                    service_category="AI and Machine Learning",
                    model=model,
                    sku=sku,
                    provider_account=account,
                    charge_description=cells.text("line_item"),
                    charge_category="Usage",
                    tags=tags,
                )
            )
    return lines, rows


def read_openai_usage(path: Path) -> tuple[list[CostLine], int]:
    """Usage buckets as ``usage`` lines (no money): one line per token type with a non-zero count."""
    lines: list[CostLine] = []
    rows = 0
    for where, bucket, results in buckets(path, api_pages(path)):
        span = Cells(path.name, where, bucket)
        start, end = span.time("start_time"), span.time("end_time")
        for r, result in enumerate(results):
            rows += 1
            cells = Cells(path.name, f"{where}.results[{r}]", result)
            account, tags = _account(cells)
            if result.get("batch") is True:
                tags["service_tier"] = "batch"
            for column, unit in USAGE_TOKENS.items():
                count = cells.decimal(column)
                if count is None or count == 0:
                    continue
                if count < 0 or count != count.to_integral_value():
                    raise cells.error(column, f"{count} is not a whole, non-negative count")
                lines.append(
                    cells.cost_line(
                        kind=CostLineKind.USAGE,
                        source="openai-usage-api",
                        charge_period_start=start,
                        charge_period_end=end,
                        billed_cost=0,
                        provider="openai",
                        service_name="OpenAI API",
                        service_category="AI and Machine Learning",
                        model=cells.text("model"),
                        provider_account=account,
                        sku=unit,
                        consumed_quantity=count,
                        consumed_unit=unit,
                        tags=tags,
                    )
                )
    return lines, rows


def import_openai_costs(path: Path, store: LedgerStore) -> ImportResult:
    """Import an OpenAI Costs API export (one page, a list of pages, or NDJSON pages)."""
    lines, rows = read_openai_costs(path)
    return store_lines(store, lines, kind="openai-costs", file=path.name, rows=rows)


def import_openai_usage(path: Path, store: LedgerStore) -> ImportResult:
    """Import an OpenAI Usage API (completions) export as usage lines."""
    lines, rows = read_openai_usage(path)
    return store_lines(store, lines, kind="openai-usage", file=path.name, rows=rows)
