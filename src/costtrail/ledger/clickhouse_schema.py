"""ClickHouse DDL for the ledger's tables, single server or cluster.

The logical columns (``columns.py``) map to ClickHouse types here:
``LowCardinality`` for dimension strings, ``Decimal`` money, ``DateTime64(6,
'UTC')`` time, ``UUID`` ids. Every table is a ``ReplacingMergeTree`` whose
sorting key ends with the row's identity, so a row stored twice (two
collectors racing on one re-sent event) collapses on merge and reads through
``FINAL`` see it once. ``ingested_at`` is the version: a repriced row is
written again with a later ``ingested_at`` and replaces the old one.

In cluster mode each table is a ``Replicated*`` local table plus a
``Distributed`` table of the logical name over the named cluster, sharded by
tenant so one tenant's rows (and every copy of one event) live on one shard.

The in-process engine (chdb) can define a cluster in its config file but has
no DDL worker and no replication: there, and only there,
``DDLOptions.distributed_ddl`` is off, so the same statements run without
``ON CLUSTER`` and with the plain engines (see ``testing a cluster`` in
docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from costtrail.ledger.columns import (
    ADDED_COLUMNS,
    AMOUNT_PRECISION,
    AMOUNT_SCALE,
    COST_PRECISION,
    COST_SCALE,
    QTY_PRECISION,
    QTY_SCALE,
    TABLES,
    Column,
)
from costtrail.ledger.run_index import (
    RUN_DAY_INDEX_TABLE,
    RUN_DAY_INDEX_VIEW,
    RUN_INDEX_TABLE,
    RUN_INDEX_VIEW,
    clickhouse_columns,
    clickhouse_day_columns,
    clickhouse_day_partials_sql,
    clickhouse_partials_sql,
)
from costtrail.ledger.tables import TableSpec

# Strings with many distinct values stay plain; the rest are dimensions and
# compress to dictionary codes with LowCardinality.
HIGH_CARDINALITY = frozenset(
    {
        "event_id",
        "run_id",
        "session_id",
        "parent_event_id",
        "request_id",
        "customer_id",
        "user_id",
        "attributes",
        "outcome_id",
        "line_id",
        "resource_id",
        "resource_name",
        "charge_description",
        "tags",
        "target_value",
    }
)

_BASE_TYPES = {
    "uuid": "UUID",
    "string": "String",
    "int": "Int64",
    "float": "Float64",
    "bool": "Bool",
    "timestamp": "DateTime64(6, 'UTC')",
    "cost": f"Decimal({COST_PRECISION}, {COST_SCALE})",
    "amount": f"Decimal({AMOUNT_PRECISION}, {AMOUNT_SCALE})",
    "qty": f"Decimal({QTY_PRECISION}, {QTY_SCALE})",
    "json": "String",
}


@dataclass(frozen=True)
class TableLayout:
    """How one logical table is stored: partitioning, sorting key, retention column, shard key."""

    partition_by: str
    order_by: tuple[str, ...]
    ttl_column: str | None
    shard_key: str
    indexes: tuple[str, ...] = ()


LAYOUTS: dict[str, TableLayout] = {
    # Rollups filter and group by tenant, day and workflow; the id last makes the key unique.
    # One partition per day: a read right after a burst of inserts merges (FINAL) only the days
    # the burst touched, every other day being one part read as is.
    "events": TableLayout(
        partition_by="toDate(started_at)",
        order_by=("tenant_id", "toDate(started_at)", "workflow", "event_uuid"),
        ttl_column="started_at",
        shard_key="cityHash64(ifNull(tenant_id, ''))",
        indexes=(
            "INDEX idx_event_uuid event_uuid TYPE bloom_filter(0.01) GRANULARITY 4",
            "INDEX idx_run_id run_id TYPE bloom_filter(0.01) GRANULARITY 4",
        ),
    ),
    "outcomes": TableLayout(
        partition_by="toYYYYMM(recorded_at)",
        order_by=("outcome_id",),
        ttl_column="recorded_at",
        shard_key="cityHash64(ifNull(tenant_id, ''))",
        indexes=("INDEX idx_run_id run_id TYPE bloom_filter(0.01) GRANULARITY 4",),
    ),
    # Finance rows are kept whatever the event retention is: invoices outlive telemetry.
    "cost_lines": TableLayout(
        partition_by="toYYYYMM(charge_period_start)",
        order_by=("line_id",),
        ttl_column=None,
        shard_key="cityHash64(line_id)",
    ),
}

# Lightweight DELETE/UPDATE need these; nullable sorting-key columns need the first.
TABLE_SETTINGS = (
    "allow_nullable_key = 1",
    "enable_block_number_column = 1",
    "enable_block_offset_column = 1",
)


@dataclass(frozen=True)
class DDLOptions:
    """Options that shape the generated DDL."""

    database: str
    cluster: str | None = None
    ttl_days: int | None = None
    distributed_ddl: bool = True
    """Off for a cluster defined in chdb's config (no DDL worker, no replication): no ON CLUSTER,
    plain engines. Everything else (local + Distributed tables, GLOBAL reads) stays as on a server."""

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {quote_ident(self.cluster)}" if self.cluster and self.distributed_ddl else ""

    @property
    def replicated(self) -> bool:
        return bool(self.cluster) and self.distributed_ddl

    def with_ttl(self, ttl_days: int | None) -> DDLOptions:
        return DDLOptions(self.database, self.cluster, ttl_days, self.distributed_ddl)


def quote_ident(name: str) -> str:
    """Backtick-quote an identifier (database, table, cluster names from URLs)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def column_type(column: Column) -> str:
    """The ClickHouse type of a logical column."""
    base = _BASE_TYPES[column.kind]
    if column.nullable:
        base = f"Nullable({base})"
    if column.kind == "string" and column.name not in HIGH_CARDINALITY:
        base = f"LowCardinality({base})"
    return base


def column_list(columns: tuple[Column, ...]) -> str:
    cols = [f"{c.name} {column_type(c)}" for c in columns]
    cols.append("ingested_at DateTime64(6, 'UTC') DEFAULT now64(6)")
    return ",\n  ".join(cols)


def local_name(table: str, options: DDLOptions) -> str:
    """The table that holds the rows: ``events`` alone, ``events_local`` under a Distributed table."""
    return f"{table}_local" if options.cluster else table


_REPLICA = "'{replica}'"


def engine_clause(table: str, options: DDLOptions, engine: str = "ReplacingMergeTree", *args: str) -> str:
    """``engine`` (with ``args``), replicated over the cluster when the options say so."""
    if options.replicated:
        path = f"'/clickhouse/tables/{{shard}}/{options.database}/{local_name(table, options)}'"
        return f"Replicated{engine}({', '.join([path, _REPLICA, *args])})"
    return f"{engine}({', '.join(args)})"


def distributed_table(table: str, options: DDLOptions, shard_key: str) -> list[str]:
    """The ``Distributed`` table of the logical name over a cluster's local tables (none on one server)."""
    if not options.cluster:
        return []
    db = quote_ident(options.database)
    name = local_name(table, options)
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.{table}{options.on_cluster} AS {db}.{name}\n"
        f"ENGINE = Distributed({quote_ident(options.cluster)}, {db}, {name}, {shard_key})"
    ]


def create_spec_table(spec: TableSpec, options: DDLOptions) -> list[str]:
    """CREATE statements for a table of the schema registry (``tables.py``)."""
    db = quote_ident(options.database)
    defaults = dict(spec.defaults)
    cols = []
    for c in spec.columns:
        kind = _BASE_TYPES[c.kind]
        cols.append(f"{c.name} {f'Nullable({kind})' if c.nullable else kind}")
        if c.name in defaults:
            cols[-1] += f" DEFAULT {defaults[c.name]}"
    engine = "ReplacingMergeTree" if spec.deduplicate else "MergeTree"
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.{local_name(spec.name, options)}{options.on_cluster} "
        f"(\n  {', '.join(cols)}\n)\nENGINE = {engine_clause(spec.name, options, engine)}\n"
        f"ORDER BY ({', '.join(spec.key)})\nSETTINGS {', '.join(TABLE_SETTINGS)}",
        *distributed_table(spec.name, options, spec.shard_key),
    ]


def create_table(table: str, options: DDLOptions) -> list[str]:
    """CREATE statements for one logical table (two in cluster mode: local + Distributed)."""
    layout = LAYOUTS[table]
    db = quote_ident(options.database)
    name = local_name(table, options)
    body = column_list(TABLES[table])
    if layout.indexes:
        body += ",\n  " + ",\n  ".join(layout.indexes)
    ttl = ""
    if options.ttl_days and layout.ttl_column:
        ttl = f"\nTTL toDateTime({layout.ttl_column}) + INTERVAL {int(options.ttl_days)} DAY DELETE"
    statements = [
        f"CREATE TABLE IF NOT EXISTS {db}.{name}{options.on_cluster} (\n  {body}\n)\n"
        f"ENGINE = {engine_clause(table, options, 'ReplacingMergeTree', 'ingested_at')}\n"
        f"PARTITION BY {layout.partition_by}\n"
        f"ORDER BY ({', '.join(layout.order_by)}){ttl}\n"
        f"SETTINGS {', '.join(TABLE_SETTINGS)}"
    ]
    return statements + distributed_table(table, options, layout.shard_key)


def add_column_statements(options: DDLOptions) -> list[str]:
    """ALTERs adding :data:`ADDED_COLUMNS` to tables created before them (local and Distributed)."""
    db = quote_ident(options.database)
    statements = []
    for table, added in ADDED_COLUMNS.items():
        targets = [local_name(table, options), table] if options.cluster else [table]
        for target in targets:
            for column, after in added:
                default = "" if column.nullable else " DEFAULT 0"
                statements.append(
                    f"ALTER TABLE {db}.{target}{options.on_cluster} ADD COLUMN IF NOT EXISTS "
                    f"{column.name} {column_type(column)}{default} AFTER {after}"
                )
    return statements


def run_index_statements(options: DDLOptions) -> list[str]:
    """The run index (``run_index.py``): an AggregatingMergeTree, the view that fills it, and a backfill.

    Single server only: on a cluster one run's partial rows could sit on two
    shards, which the index's reads do not merge; cluster reports count runs
    from events.
    """
    columns = clickhouse_columns()
    return _index_statements(
        options, RUN_INDEX_TABLE, RUN_INDEX_VIEW, columns, "ORDER BY run_id", clickhouse_partials_sql
    )


def run_day_index_statements(options: DDLOptions) -> list[str]:
    """The by-day run index (``run_index.py``): sorted by day first, so a burst of today's runs
    overlaps only today's rows when a read merges parts. Single server only, as the run index."""
    return _index_statements(
        options,
        RUN_DAY_INDEX_TABLE,
        RUN_DAY_INDEX_VIEW,
        clickhouse_day_columns(),
        "PARTITION BY toYYYYMM(day)\nORDER BY (day, run_id)",
        clickhouse_day_partials_sql,
    )


def _index_statements(
    options: DDLOptions, name: str, view: str, columns: str, layout: str, partials: Callable[[str], str]
) -> list[str]:
    """An index table filled from ``events`` by a materialized view, then backfilled (none on a cluster)."""
    if options.cluster:
        return []
    db = quote_ident(options.database)
    table = f"{db}.{name}"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (\n  {columns}\n)\nENGINE = AggregatingMergeTree\n{layout}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view} TO {table} AS {partials(f'{db}.events')}",
        # Events stored before the view existed (the view first: nothing falls between the two).
        f"INSERT INTO {table} {partials(f'{db}.events')}",
    ]


def retention_statement(table: str, options: DDLOptions) -> str | None:
    """ALTER that sets (or removes, with ``ttl_days=None``) a table's retention."""
    layout = LAYOUTS[table]
    if layout.ttl_column is None:
        return None
    target = f"{quote_ident(options.database)}.{local_name(table, options)}{options.on_cluster}"
    if not options.ttl_days:
        return f"ALTER TABLE {target} REMOVE TTL"
    return (
        f"ALTER TABLE {target} MODIFY TTL toDateTime({layout.ttl_column}) "
        f"+ INTERVAL {int(options.ttl_days)} DAY DELETE"
    )
