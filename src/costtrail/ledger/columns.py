"""The ledger's tables as logical columns, shared by every store.

Each store maps the logical types to its own (DuckDB, ClickHouse); the Arrow
schema built here is the one bulk paths use on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    EVENT_SCHEMA: pa.Schema
    OUTCOME_SCHEMA: pa.Schema
    COST_LINE_SCHEMA: pa.Schema

# Money: per-event costs fit DECIMAL(18, 12) (up to $999,999.999999999999 per
# event, to a millionth of a micro-dollar: the cheapest list price per token
# is about 1e-9 USD). Sums widen to DECIMAL(38, 12).
COST_PRECISION = 18
COST_SCALE = 12
AMOUNT_PRECISION = 38  # cost lines: invoice amounts, allocations
AMOUNT_SCALE = 12
QTY_PRECISION = 38
QTY_SCALE = 9


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # uuid | string | int | float | bool | timestamp | cost | amount | qty | json
    nullable: bool = True


def _s(name: str) -> Column:
    return Column(name, "string")


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_uuid", "uuid", nullable=False),
    _s("event_id"),  # NULL when event_id is event_uuid's 32-char hex form (most events)
    Column("kind", "string", nullable=False),
    Column("schema_version", "int", nullable=False),
    Column("started_at", "timestamp", nullable=False),
    Column("ended_at", "timestamp"),
    Column("latency_ms", "float"),
    _s("workflow"),
    _s("run_id"),
    _s("session_id"),
    _s("agent"),
    _s("step"),
    _s("parent_event_id"),
    _s("request_id"),
    Column("retry_count", "int", nullable=False),
    Column("status", "string", nullable=False),
    _s("error_type"),
    Column("tool_calls", "int", nullable=False),
    _s("tool_name"),
    _s("provider"),
    _s("model"),
    _s("service_tier"),
    _s("region"),
    _s("provider_account"),
    Column("input_tokens", "int", nullable=False),
    Column("output_tokens", "int", nullable=False),
    Column("cache_read_tokens", "int", nullable=False),
    Column("cache_write_tokens", "int", nullable=False),
    Column("cache_write_1h_tokens", "int", nullable=False),  # added by migration 4 (ADDED_COLUMNS)
    Column("reasoning_tokens", "int", nullable=False),
    Column("input_audio_tokens", "int", nullable=False),
    Column("output_audio_tokens", "int", nullable=False),
    Column("web_searches", "int", nullable=False),  # these three: added by migration 7 (ADDED_COLUMNS)
    Column("file_searches", "int", nullable=False),
    Column("code_executions", "int", nullable=False),
    Column("request_count", "int", nullable=False),
    Column("query_count", "int", nullable=False),
    Column("payload_bytes", "int", nullable=False),
    Column("compute_seconds", "qty"),
    _s("gpu_type"),
    _s("product"),
    _s("feature"),
    _s("customer_id"),
    _s("tenant_id"),
    _s("plan_tier"),
    _s("environment"),
    _s("team"),
    _s("cost_center"),
    _s("user_id"),
    _s("cloud_provider"),
    _s("cluster"),
    _s("namespace"),
    _s("workload"),
    Column("cost_usd", "cost"),
    _s("cost_source"),
    _s("price_ref"),
    Column("unpriced", "bool", nullable=False),
    Column("cost_estimate_usd", "cost"),  # added by migration 6 (ADDED_COLUMNS)
    Column("attributes", "json"),
)

OUTCOME_COLUMNS: tuple[Column, ...] = (
    Column("outcome_id", "string", nullable=False),
    Column("run_id", "string", nullable=False),
    _s("workflow"),
    Column("outcome", "string", nullable=False),
    Column("success", "bool", nullable=False),
    Column("value_usd", "amount"),
    Column("recorded_at", "timestamp", nullable=False),
    _s("feature"),
    _s("customer_id"),
    _s("tenant_id"),
    _s("environment"),
    Column("attributes", "json"),
)

COST_LINE_COLUMNS: tuple[Column, ...] = (
    Column("line_id", "string", nullable=False),
    Column("kind", "string", nullable=False),
    Column("source", "string", nullable=False),
    Column("charge_period_start", "timestamp", nullable=False),
    Column("charge_period_end", "timestamp", nullable=False),
    Column("billed_cost", "amount", nullable=False),
    Column("effective_cost", "amount"),
    Column("list_cost", "amount"),
    Column("contracted_cost", "amount"),
    Column("currency", "string", nullable=False),
    _s("provider"),
    _s("service_name"),
    _s("service_category"),
    _s("resource_id"),
    _s("resource_name"),
    _s("sku"),
    _s("model"),
    _s("provider_account"),
    Column("pricing_quantity", "qty"),
    _s("pricing_unit"),
    Column("consumed_quantity", "qty"),
    _s("consumed_unit"),
    _s("charge_description"),
    _s("charge_category"),
    Column("tags", "json"),
    _s("rule_id"),
    _s("signal"),
    Column("signal_quantity", "qty"),
    Column("ratio", "qty"),
    _s("target_dimension"),
    _s("target_value"),
    _s("confidence"),
    _s("allocation_period"),
)

# Columns added after a table's first release: stores add them to a table created before (with 0
# in the rows already there), each after the column named with it.
ADDED_COLUMNS: dict[str, tuple[tuple[Column, str], ...]] = {
    "events": (
        (Column("cache_write_1h_tokens", "int", nullable=False), "cache_write_tokens"),
        (Column("cost_estimate_usd", "cost"), "unpriced"),
        (Column("web_searches", "int", nullable=False), "output_audio_tokens"),
        (Column("file_searches", "int", nullable=False), "web_searches"),
        (Column("code_executions", "int", nullable=False), "file_searches"),
    ),
}

TABLES: dict[str, tuple[Column, ...]] = {
    "events": EVENT_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
    "cost_lines": COST_LINE_COLUMNS,
}


def _arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {
        "uuid": pa.binary(16),
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us"),
        "cost": pa.decimal128(COST_PRECISION, COST_SCALE),
        "amount": pa.decimal128(AMOUNT_PRECISION, AMOUNT_SCALE),
        "qty": pa.decimal128(QTY_PRECISION, QTY_SCALE),
        "json": pa.string(),
    }[kind]


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c.name, _arrow_type(c.kind), nullable=c.nullable) for c in columns])


_SCHEMAS = {
    "EVENT_SCHEMA": EVENT_COLUMNS,
    "OUTCOME_SCHEMA": OUTCOME_COLUMNS,
    "COST_LINE_SCHEMA": COST_LINE_COLUMNS,
}


def __getattr__(name: str) -> pa.Schema:
    # The Arrow schemas are built on first use: a store opened to read never imports Arrow.
    if name in _SCHEMAS:
        schema = arrow_schema(_SCHEMAS[name])
        globals()[name] = schema
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
