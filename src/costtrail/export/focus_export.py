"""FOCUS export: telemetry, bills and allocations as one FOCUS 1.2 cost and usage dataset.

Rows carry ``x_CostSource`` so a reader can tell the views of the same money apart:

- ``telemetry``: events aggregated per day x provider x model x account x tags (computed cost);
- ``billed`` / ``shared``: imported bills and invoices;
- ``allocated`` / ``unallocated``: shares of pools made by allocation rules (``Allocated*`` columns);
- ``true_up``: billed minus computed per reconciled group.

Telemetry rows state the four FOCUS costs as the spec means them: ``ListCost`` at the
genai-prices list price x quantity, ``ContractedCost`` at the negotiated price (the rate card
that priced the event; the list price when none did), ``EffectiveCost`` after discounts and
``BilledCost`` as billed (both the cost the ledger computed). Unpriced usage has no cost to
state, and FOCUS costs cannot be null: it is left out of the cost rows and counted
(:func:`unpriced_usage`), never written as $0.

Telemetry and bills describe the same spend from two sides, and allocations
re-state shared pools, so a total is taken per ``x_CostSource`` (or filter with
``sources``). Columns that costtrail adds are prefixed ``x_``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from costtrail.export.csv_cells import csv_cell
from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer

FOCUS_VERSION = "1.2"
SOURCES = ("telemetry", "billed", "shared", "allocated", "unallocated", "true_up")
TAG_DIMENSIONS = ("workflow", "feature", "customer_id", "tenant_id", "environment")
_AI = "AI and Machine Learning"
_GENAI = "Generative AI"

COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "AllocatedMethodId",
    "AllocatedMethodDetails",
    "AllocatedResourceId",
    "AllocatedTags",
    "x_CostSource",
    "x_Model",
    "x_ProviderAccount",
    "x_ServiceTier",
    "x_InputTokens",
    "x_OutputTokens",
    "x_CacheReadTokens",
    "x_CacheWriteTokens",
    "x_CacheWrite1hTokens",
    "x_Requests",
    "x_WebSearches",
    "x_FileSearches",
    "x_CodeExecutions",
    "x_Events",
    "x_UnpricedEvents",
    "x_RuleId",
    "x_Signal",
    "x_SignalQuantity",
    "x_AllocationRatio",
    "x_Confidence",
)
_MONEY = ("BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "ContractedUnitPrice", "ListUnitPrice")
_QTY = ("ConsumedQuantity", "PricingQuantity", "x_SignalQuantity", "x_AllocationRatio")
_INTS = (
    "x_InputTokens",
    "x_OutputTokens",
    "x_CacheReadTokens",
    "x_CacheWriteTokens",
    "x_CacheWrite1hTokens",
    "x_Requests",
    "x_WebSearches",
    "x_FileSearches",
    "x_CodeExecutions",
)
_INTS2 = ("x_Events", "x_UnpricedEvents")
_TIMES = ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart")


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


_GROUP_KEYS = ("provider", "model", "provider_account", "service_tier", "region", *TAG_DIMENSIONS)
# Events a rate card priced: their list price differs from their cost (genai-prices priced the rest
# at the list price itself, and a reported cost has no list price to compare).
_CARD_PRICED = "price_ref LIKE 'rate-card@%' AND coalesce(cost_source, '') <> 'reported'"


def unpriced_usage(store: LedgerStore, period: Period) -> int:
    """Events of the period with no price: left out of the FOCUS cost rows (a cost cannot be unknown)."""
    d = store.dialect
    where = period.where("started_at", d.literal)
    rows = store.query(f"SELECT count(*) AS n FROM {d.final('events')} WHERE unpriced AND {where}")
    return int(rows[0]["n"]) if rows else 0


def _list_surcharges(store: LedgerStore, period: Period) -> dict[tuple[Any, ...], Decimal]:
    """Per telemetry group: list price x quantity minus the cost, for the events a rate card priced.

    Those events are priced again without the rate card (genai-prices' list price, in bulk);
    an event with no list price (a private model) keeps its cost as its list cost.
    """
    d = store.dialect
    table = store.query_arrow(
        f"SELECT * FROM {d.final('events')} WHERE NOT unpriced AND {_CARD_PRICED} "
        f"AND {period.where('started_at', d.literal)}"
    )
    if table.num_rows == 0:
        return {}
    listed = Pricer().price_table(table)
    cost = table.column("cost_usd").cast(pa.decimal128(24, 12))
    list_cost = pc.coalesce(listed.column("cost_usd").cast(pa.decimal128(24, 12)), cost)
    grouped = (
        pa.table(
            {
                "day": pc.cast(table.column("started_at"), pa.date32()),
                **{k: table.column(k) for k in _GROUP_KEYS},
                "surcharge": pc.subtract(list_cost, cost),
            }
        )
        .group_by(["day", *_GROUP_KEYS], use_threads=False)
        .aggregate([("surcharge", "sum")])
    )
    return {
        (r["day"], *(r[k] for k in _GROUP_KEYS)): r["surcharge_sum"] or Decimal(0)
        for r in grouped.to_pylist()
    }


def _telemetry_rows(store: LedgerStore, period: Period) -> Iterable[dict[str, Any]]:
    d = store.dialect
    day = d.day("started_at")
    keys = list(_GROUP_KEYS)
    sql = (
        f"SELECT {day} AS day, {', '.join(keys)}, "
        "sum(cost_usd) AS cost, "
        "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
        "sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens, "
        "sum(cache_write_1h_tokens) AS cache_write_1h_tokens, "
        "sum(request_count) AS requests, sum(web_searches) AS web_searches, "
        "sum(file_searches) AS file_searches, sum(code_executions) AS code_executions, count(*) AS events "
        f"FROM {d.final('events')} WHERE NOT unpriced AND {period.where('started_at', d.literal)} "
        f"GROUP BY {day}, {', '.join(keys)}"
    )
    surcharges = _list_surcharges(store, period)
    for r in store.query(sql):
        start = _utc(r["day"])
        provider = r["provider"] or "unknown"
        tokens = int(r["input_tokens"] or 0) + int(r["output_tokens"] or 0)
        cost = _dec(r["cost"])
        day_key = r["day"].date() if isinstance(r["day"], datetime) else r["day"]
        surcharge = surcharges.get((day_key, *(r[k] for k in keys)), Decimal(0))
        tags = {k: r[k] for k in TAG_DIMENSIONS if r[k] is not None}
        account = r["provider_account"] or provider
        yield {
            "BilledCost": cost,  # as billed: the ledger's cost, the rate card's negotiated price applied
            "EffectiveCost": cost,  # after discounts (no commitment to amortize in telemetry)
            "ListCost": cost + surcharge,  # genai-prices' list price x quantity
            "ContractedCost": cost,  # at the negotiated price
            "BillingAccountId": account,
            "BillingAccountName": account,
            "SubAccountId": r["provider_account"],
            "SubAccountName": r["provider_account"],
            "ChargeCategory": "Usage",
            "ChargeDescription": f"{r['model'] or 'unpriced usage'} via {provider} (costtrail telemetry)",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodStart": start,
            "ChargePeriodEnd": start + timedelta(days=1),
            "ConsumedQuantity": Decimal(tokens) if tokens else None,
            "ConsumedUnit": "Tokens" if tokens else None,
            "PricingQuantity": Decimal(tokens),
            "PricingUnit": "Tokens",
            "PricingCategory": "Standard",
            "ProviderName": provider,
            "PublisherName": provider,
            "InvoiceIssuerName": provider,
            "RegionId": r["region"],
            "RegionName": r["region"],
            "ResourceId": r["model"],
            "ResourceName": r["model"],
            "ResourceType": "Model" if r["model"] else None,
            "ServiceCategory": _AI,
            "ServiceSubcategory": _GENAI,
            "ServiceName": f"{provider} API",
            "SkuId": r["model"],
            "SkuPriceId": r["model"],
            "Tags": tags,
            "x_CostSource": "telemetry",
            "x_Model": r["model"],
            "x_ProviderAccount": r["provider_account"],
            "x_ServiceTier": r["service_tier"],
            "x_InputTokens": int(r["input_tokens"] or 0),
            "x_OutputTokens": int(r["output_tokens"] or 0),
            "x_CacheReadTokens": int(r["cache_read_tokens"] or 0),
            "x_CacheWriteTokens": int(r["cache_write_tokens"] or 0),
            "x_CacheWrite1hTokens": int(r["cache_write_1h_tokens"] or 0),
            "x_Requests": int(r["requests"] or 0),
            "x_WebSearches": int(r["web_searches"] or 0),  # tool uses billed per use (their fees are in cost)
            "x_FileSearches": int(r["file_searches"] or 0),
            "x_CodeExecutions": int(r["code_executions"] or 0),
            "x_Events": int(r["events"] or 0),
            "x_UnpricedEvents": 0,  # unpriced usage is never in a cost row (unpriced_usage counts it)
        }


def _line_rows(store: LedgerStore, period: Period, kinds: Sequence[str]) -> Iterable[dict[str, Any]]:
    d = store.dialect
    kind_list = ", ".join(d.literal(k) for k in kinds)
    sql = (
        f"SELECT * FROM {d.final('cost_lines')} WHERE kind IN ({kind_list}) "
        f"AND ({period.where('charge_period_start', d.literal)} "
        f"OR allocation_period = {d.literal(period.label)}) "
        "ORDER BY kind, charge_period_start, line_id"
    )
    for r in store.query(sql):
        tags = json.loads(r["tags"]) if r["tags"] else {}
        provider = r["provider"] or ("costtrail" if r["kind"] in ("allocated", "unallocated") else "unknown")
        ai = r["service_category"] == _AI or r["model"] is not None
        allocated = r["kind"] in ("allocated", "unallocated")
        category = r["service_category"] or (_AI if ai else "Other")
        billed = _dec(r["billed_cost"])
        effective = _dec(r["effective_cost"]) if r["effective_cost"] is not None else billed
        row: dict[str, Any] = {
            "BilledCost": billed,
            "EffectiveCost": effective,
            "ListCost": _dec(r["list_cost"]) if r["list_cost"] is not None else billed,
            "ContractedCost": _dec(r["contracted_cost"]) if r["contracted_cost"] is not None else effective,
            "BillingAccountId": r["provider_account"] or provider,
            "BillingAccountName": r["provider_account"] or provider,
            "SubAccountId": r["provider_account"],
            "SubAccountName": r["provider_account"],
            "BillingCurrency": r["currency"],
            "ChargeCategory": r["charge_category"] or "Usage",
            "ChargeDescription": r["charge_description"] or r["source"],
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodStart": _utc(r["charge_period_start"]),
            "ChargePeriodEnd": _utc(r["charge_period_end"]),
            "ConsumedQuantity": r["consumed_quantity"],
            "ConsumedUnit": r["consumed_unit"] if r["consumed_quantity"] is not None else None,
            "PricingQuantity": r["pricing_quantity"],
            "PricingUnit": r["pricing_unit"] if r["pricing_quantity"] is not None else None,
            "PricingCategory": "Standard" if r["pricing_quantity"] is not None else None,
            "ProviderName": provider,
            "PublisherName": provider,
            "InvoiceIssuerName": provider,
            "ResourceId": r["resource_id"],
            "ResourceName": r["resource_name"] or r["resource_id"],
            "ServiceCategory": category,
            "ServiceSubcategory": _GENAI if category == _AI else "Other (Other)",
            "ServiceName": r["service_name"] or r["source"],
            "SkuId": r["sku"],
            "SkuPriceId": r["sku"],
            "Tags": {k: v for k, v in tags.items() if not k.startswith("focus.")},
            "x_CostSource": r["kind"],
            "x_Model": r["model"],
            "x_ProviderAccount": r["provider_account"],
            "x_ServiceTier": tags.get("service_tier"),
            "x_RuleId": r["rule_id"],
            "x_Signal": r["signal"],
            "x_SignalQuantity": r["signal_quantity"],
            "x_AllocationRatio": r["ratio"],
            "x_Confidence": r["confidence"],
        }
        if allocated:
            row["AllocatedMethodId"] = r["rule_id"]
            row["AllocatedMethodDetails"] = json.dumps(
                {"method": tags.get("method"), "signal": r["signal"], "ratio": str(r["ratio"])},
                sort_keys=True,
            )
            if r["target_dimension"]:
                row["AllocatedTags"] = {r["target_dimension"]: r["target_value"] or "(unallocated)"}
                row["Tags"] = {**row["Tags"], r["target_dimension"]: r["target_value"] or "(unallocated)"}
        yield row


def focus_records(
    store: LedgerStore, period: Period, sources: Sequence[str] = SOURCES
) -> list[dict[str, Any]]:
    """The period's FOCUS rows (one dict per row, every column in :data:`COLUMNS`)."""
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown source {', '.join(unknown)}: use {', '.join(SOURCES)}")
    rows: list[dict[str, Any]] = []
    if "telemetry" in sources:
        rows.extend(_telemetry_rows(store, period))
    kinds = [s for s in sources if s != "telemetry"]
    if kinds:
        rows.extend(_line_rows(store, period, kinds))
    out = []
    for row in rows:
        full = {c: row.get(c) for c in COLUMNS}
        full["BillingCurrency"] = full["BillingCurrency"] or "USD"
        full["BillingPeriodStart"] = period.start
        full["BillingPeriodEnd"] = period.end
        full["ChargeClass"] = None
        out.append(full)
    return out


def _arrow(records: list[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> pa.Table:
    fields = []
    for c in columns:
        if c in _MONEY:
            fields.append(pa.field(c, pa.decimal128(38, 12)))
        elif c in _QTY:
            fields.append(pa.field(c, pa.decimal128(38, 9)))
        elif c in _INTS or c in _INTS2:
            fields.append(pa.field(c, pa.int64()))
        elif c in _TIMES:
            fields.append(pa.field(c, pa.timestamp("us", tz="UTC")))
        else:
            fields.append(pa.field(c, pa.string()))
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for r in records:
        for c in columns:
            v = r[c]
            if isinstance(v, dict):  # JSON columns (Tags, AllocatedTags, 1.3's details objects)
                v = json.dumps(v, sort_keys=True)
            elif c in _MONEY and v is not None:
                v = _dec(v).quantize(Decimal("0.000000000001"))
            elif c in _QTY and v is not None:
                v = _dec(v).quantize(Decimal("0.000000001"))
            data[c].append(v)
    return pa.Table.from_pydict(data, schema=pa.schema(fields))


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in _TIMES:
        return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):  # JSON columns (Tags, AllocatedTags, 1.3's details objects)
        return json.dumps(value, sort_keys=True)
    if isinstance(value, Decimal):
        # Always with a point: a reader that infers types must see a decimal, not an integer column.
        text = format(value.normalize() if value != 0 else Decimal(0), "f")
        return text if "." in text else text + ".0"
    return str(value)


def write_focus(
    records: list[dict[str, Any]], path: Path, fmt: str = "csv", columns: Sequence[str] = COLUMNS
) -> int:
    """Write FOCUS rows as CSV (ISO 8601 UTC times, JSON tags) or Parquet; returns the row count."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(_arrow(records, columns), path)
        return len(records)
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}: use csv or parquet")
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for r in records:
            writer.writerow([csv_cell(_csv_cell(c, r[c])) for c in columns])
    return len(records)


def export_focus(
    store: LedgerStore, period: Period, path: Path, fmt: str = "csv", sources: Sequence[str] = SOURCES
) -> int:
    """Export the period as a FOCUS file; returns the number of rows written.

    >>> import tempfile
    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> store = DuckDBStore(":memory:")
    >>> export_focus(store, Period.parse("2026-10"), Path(tempfile.mkdtemp()) / "focus.csv")
    0
    >>> store.close()
    """
    return write_focus(focus_records(store, period, sources), path, fmt)
