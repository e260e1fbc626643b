"""The schema registry: every table a ledger holds, declared once.

The ledger's own tables (``events``, ``outcomes``, ``cost_lines``) take their
columns from :mod:`costtrail.ledger.columns` and their ClickHouse layout from
:mod:`costtrail.ledger.clickhouse_schema`; the run index is described in
:mod:`costtrail.ledger.run_index`; the migrations log in
:mod:`costtrail.ledger.migrations`. The tables other packages write (alerts,
eval results, stored content) are declared here as :class:`TableSpec`, and
each store turns a spec into its own DDL: a DuckDB table created on first use
(``store.ensure_table``), or on ClickHouse a table created by a migration,
cluster-wide when the ledger is a cluster (a local table per shard plus a
``Distributed`` table of the logical name). No package outside ``ledger/``
writes DDL.
"""

from __future__ import annotations

from dataclasses import dataclass

from costtrail.ledger.columns import TABLES, Column
from costtrail.ledger.run_index import RUN_DAY_INDEX_TABLE, RUN_INDEX_DELTA, RUN_INDEX_TABLE
from costtrail.ledger.usage_rollup import USAGE_ROLLUP_TABLES

MIGRATIONS_TABLE = "costtrail_migrations"


@dataclass(frozen=True)
class TableSpec:
    """A table kept in the ledger for another package.

    ``key`` orders the rows on ClickHouse (the sorting key, whose columns are
    never NULL); with ``deduplicate`` rows sharing the key collapse on merge
    (a ``ReplacingMergeTree``), otherwise every row is kept. ``shard_key`` spreads
    the rows over a cluster's shards.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    owner: str
    deduplicate: bool = False
    shard_key: str = "rand()"
    defaults: tuple[tuple[str, str], ...] = ()
    """(column, default expression) pairs, the expression valid on both stores (``now()``)."""


def _s(name: str, nullable: bool = False) -> Column:
    return Column(name, "string", nullable=nullable)


ALERTS = TableSpec(
    name="alerts",
    columns=(
        _s("alert_id"),
        _s("kind"),
        _s("dedup_key"),
        _s("severity"),
        _s("title"),
        _s("message"),
        _s("scope"),
        _s("evidence"),
        Column("raised_at", "timestamp", nullable=False),
    ),
    key=("raised_at", "alert_id"),
    owner="controls.alerts",
    shard_key="cityHash64(alert_id)",
)

EVAL_RESULTS = TableSpec(
    name="eval_results",
    columns=(
        _s("result_id"),
        _s("workflow"),
        _s("model"),
        _s("provider", nullable=True),
        _s("eval_set"),
        Column("eval_date", "timestamp", nullable=False),
        Column("pass_rate", "float"),
        Column("score", "float"),
        Column("cases", "int"),
        Column("avg_input_tokens", "float"),
        Column("avg_output_tokens", "float"),
        Column("avg_calls_per_run", "float"),
        Column("avg_tool_calls", "float"),
        Column("avg_retries", "float"),
    ),
    key=("result_id",),
    owner="optimize.evals",
    deduplicate=True,
    shard_key="cityHash64(result_id)",
)

CONTENT = TableSpec(
    name="content",
    columns=(
        _s("event_id"),
        Column("started_at", "timestamp"),
        _s("prompt", nullable=True),
        _s("completion", nullable=True),
        Column("stored_at", "timestamp"),
    ),
    key=("event_id",),
    owner="ledger.content",
    shard_key="cityHash64(event_id)",
    defaults=(("stored_at", "now()"),),
)

# Every earlier price of a repriced event: the price it had until ``superseded_at`` (the events
# table holds the current one). Written by the stores' update_event_costs, in the same step.
PRICE_HISTORY = TableSpec(
    name="price_history",
    columns=(
        Column("event_uuid", "uuid", nullable=False),
        Column("cost_usd", "cost"),
        _s("cost_source", nullable=True),
        _s("price_ref", nullable=True),
        Column("unpriced", "bool", nullable=False),
        Column("superseded_at", "timestamp", nullable=False),
    ),
    key=("event_uuid", "superseded_at"),
    owner="pricing.reprice",
    shard_key="cityHash64(event_uuid)",
)

SPECS: dict[str, TableSpec] = {spec.name: spec for spec in (ALERTS, EVAL_RESULTS, CONTENT, PRICE_HISTORY)}
"""The tables kept for other packages, by name."""

LEDGER_TABLES: tuple[str, ...] = tuple(TABLES)
"""The ledger's own tables (events, outcomes, cost_lines)."""

ALL_TABLES: tuple[str, ...] = (
    *LEDGER_TABLES,
    RUN_INDEX_TABLE,
    RUN_INDEX_DELTA,
    RUN_DAY_INDEX_TABLE,
    *USAGE_ROLLUP_TABLES,
    MIGRATIONS_TABLE,
    *SPECS,
)
"""Every table a ledger can hold (the run index delta and the usage rollup on DuckDB only, the
by-day run index and the migrations log on ClickHouse only); nothing else creates one."""


def spec(name: str) -> TableSpec:
    """The declaration of a table kept for another package; a clear error for an unknown name."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"no table {name!r} in the schema registry: declare it in ledger/tables.py") from None
