"""The scale-out store: the ledger in ClickHouse, through clickhouse-connect.

Same protocol and same results as the DuckDB store. Writes go as Arrow
batches into a short-lived in-memory staging table, and an INSERT ... SELECT
moves the rows whose id is not stored yet (looked up only in the batch's
time range), so ``AppendResult`` counts duplicates exactly. The tables are
``ReplacingMergeTree`` (see ``clickhouse_schema``), so even two collectors
racing on one event store it once after merge; reads go through
``dialect.final(table)``. ``chdb://dir`` runs the same client API against the
in-process engine (tests, single-machine use).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc

from costtrail.ledger.clickhouse_schema import DDLOptions, local_name, retention_statement
from costtrail.ledger.clickhouse_url import ClickHouseTarget, parse_clickhouse_url
from costtrail.ledger.columns import COST_PRECISION, COST_SCALE, TABLES
from costtrail.ledger.migrations import apply_migrations
from costtrail.ledger.rows import cost_lines_to_arrow, events_to_arrow, outcomes_to_arrow
from costtrail.ledger.run_index import RUN_INDEX_TABLE, RunIndex
from costtrail.ledger.store import ID_MEMORY, AppendResult, Dialect, LedgerError, id_search, sql_literal
from costtrail.schema import CostLine, Event, Outcome

# Standard-SQL behaviour for SQL written once for both stores: aliases never
# shadow columns, outer joins fill NULLs, JSON_VALUE gives NULL for a missing
# key, and every time is UTC whatever the server's zone. ``final`` reads every
# ReplacingMergeTree deduplicated (as FINAL would) even where a query aliases
# the table, which the FINAL keyword does not allow (``events FINAL e``).
SESSION_SETTINGS: dict[str, Any] = {
    "final": 1,
    # Copies of one event share started_at, hence the monthly partition: a partition that has
    # merged into one part is read as is, without FINAL's merge-on-read.
    "do_not_merge_across_partitions_select_final": 1,
    # A skip index (run_id, event_uuid) may narrow FINAL reads to the granules it selects:
    # those columns are the same in every version of a row (a reprice rewrites costs only),
    # so no newer version can hide elsewhere. Exact mode re-expanded one run's lookup to the
    # whole table (0.25 s instead of 0.015 s at 10M events).
    "use_skip_indexes_if_final": 1,
    "use_skip_indexes_if_final_exact_mode": 0,
    # Lazy FINAL (filter first, then merge only the matching keys) would make the unpriced line
    # right after a burst of inserts at 10M ~50x cheaper, but it returned no rows for
    # `WHERE unpriced` on a freshly inserted table: off, explicitly (newer versions may turn it
    # on by default). tests/contract/test_contract_reprice.py guards it.
    "query_plan_optimize_lazy_final": 0,
    "session_timezone": "UTC",
    "prefer_column_name_to_alias": 1,
    "join_use_nulls": 1,
    "function_json_value_return_type_allow_nullable": 1,
}

_KEYS = {"events": "event_uuid", "outcomes": "outcome_id", "cost_lines": "line_id"}
_TIMESTAMP_TYPE = re.compile(r"\b(TIMESTAMP|DATETIME)\b(?!\s*')", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?TABLE\b", re.IGNORECASE)
_HAS_ENGINE = re.compile(r"\)\s*ENGINE\s*=", re.IGNORECASE)


# The non-nullable columns of a table's sorting key (clickhouse_schema.LAYOUTS), shared by every
# version of a row.
_VERSION_KEYS = {"events": "toDate(started_at), event_uuid"}


class ClickHouseDialect:
    """SQL spellings for ClickHouse (backslash-escaped strings, UTC DateTime64 literals, Decimal money)."""

    name = "clickhouse"

    def __init__(self, *, cluster: bool = False) -> None:
        self._in = "GLOBAL IN" if cluster else "IN"

    def literal(self, value: Any) -> str:
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return f"toDateTime64('{value.isoformat(sep=' ')}', 6, 'UTC')"
        if isinstance(value, Decimal) and not isinstance(value, bool):
            text = sql_literal(value)
            # A bare 0.5 is Float64 in ClickHouse; money must stay Decimal.
            scale = max(0, -int(value.as_tuple().exponent)) if value.is_finite() else 0
            return f"toDecimal128('{text}', {min(scale, 38)})"
        return sql_literal(value, backslash_escapes=True)

    def quantile(self, expr: str, q: float) -> str:
        # Linear interpolation between closest ranks, as DuckDB's quantile_cont.
        return f"quantileExactInclusive({float(q)})(toFloat64({expr}))"

    def day(self, expr: str) -> str:
        return f"toDate({expr}, 'UTC')"

    def json_value(self, expr: str, key: str) -> str:
        return f"JSON_VALUE({expr}, {sql_literal('$.' + key, backslash_escapes=True)})"

    def final(self, table: str) -> str:
        # The session setting ``final = 1`` already deduplicates; the bare name keeps aliases legal.
        return table

    def candidates(self, table: str, predicate: str) -> str:
        # FINAL applies a filter on a non-key column after merging every overlapping part in full
        # (right after a burst of inserts at 10M events, the unpriced line took ~0.4 s for a
        # handful of rows). Every version of a row shares the sorting key (a reprice rewrites
        # costs and `unpriced` only), so the keys any version matches, read without FINAL, bound
        # the rows to merge, and the primary index skips the other granules (~0.014 s). Only
        # the key's non-nullable columns: NULL never matches IN (the full key: 0.009 s, and
        # wrong for events with no tenant or workflow).
        key = _VERSION_KEYS.get(table)
        if key is None:
            raise ValueError(f"no candidate key for table {table!r}: only {sorted(_VERSION_KEYS)}")
        return f"({key}) {self._in} (SELECT {key} FROM {table} WHERE {predicate} SETTINGS final = 0)"

    def ingested_since(self, window: timedelta) -> str:
        return f"now64(6) - INTERVAL {int(window.total_seconds())} SECOND"


class ClickHouseStore:
    """A ledger in ClickHouse (a server, a cluster, or the in-process chdb engine).

    >>> store = ClickHouseStore.from_url("chdb:///tmp/ledger?database=demo")  # doctest: +SKIP
    >>> store.append_events([Event(model="gpt-4o-mini", provider="openai")]).accepted  # doctest: +SKIP
    1
    """

    def __init__(self, client: Any, target: ClickHouseTarget, *, id_memory: timedelta = ID_MEMORY) -> None:
        self._client = client
        self.id_memory = id_memory
        self.target = target
        self.url = target.display_url
        self.dialect: Dialect = ClickHouseDialect(cluster=bool(target.cluster))
        self.options = DDLOptions(database=target.database, cluster=target.cluster, ttl_days=target.ttl_days)
        self._lock = threading.RLock()
        self._global = "GLOBAL " if target.cluster else ""
        self.migrations_applied = apply_migrations(self, self.options)
        self._client.database = target.database

    @classmethod
    def from_url(cls, url: str, *, id_memory: timedelta = ID_MEMORY) -> ClickHouseStore:
        """Open ``clickhouse://user:pass@host:8123/db`` or ``chdb://dir``, applying pending migrations."""
        target = parse_clickhouse_url(url)
        try:
            if target.engine == "chdb":
                client = clickhouse_connect.get_client(dsn=f"chdb://{_chdb_location(target.path)}")
                for key, value in SESSION_SETTINGS.items():
                    client.set_client_setting(key, value)
            else:
                client = clickhouse_connect.get_client(
                    host=target.host,
                    port=target.port,
                    username=target.username,
                    password=target.password,
                    secure=target.secure,
                    settings=SESSION_SETTINGS,
                    compress="lz4",
                    autogenerate_session_id=False,
                )
        except ImportError as exc:
            raise LedgerError(f"{target.display_url} needs chdb: pip install chdb ({exc})") from exc
        except Exception as exc:
            raise LedgerError(f"cannot connect to the ClickHouse ledger {target.display_url}: {exc}") from exc
        return cls(client, target, id_memory=id_memory)

    # -- the runner the migrator uses -------------------------------------

    def command(self, cmd: str) -> object:
        with self._lock:
            return self._client.command(cmd)

    def query_rows(self, sql: str) -> list[tuple[object, ...]]:
        return list(self._client.query(sql).result_rows)

    # -- writes -------------------------------------------------------------

    def append_events(self, events: Sequence[Event]) -> AppendResult:
        if not events:
            return AppendResult(0, 0)
        return self.append_event_table(events_to_arrow(events))

    def append_event_table(self, table: pa.Table) -> AppendResult:
        if table.num_rows == 0:
            return AppendResult(0, 0)
        bounds = pc.min_max(table.column("started_at"))
        # Stored copies are searched where id_search says (the bloom filter on event_uuid and the
        # partitions by started_at narrow the read); a copy with another started_at would not
        # collapse with this one on merge, so the lookup is what keeps the event once.
        where = " OR ".join(
            id_search(self.dialect, bounds["min"].as_py(), bounds["max"].as_py(), self.id_memory)
        )
        return self._append_keyed("events", table, f"({where}) AND ")

    def append_outcomes(self, outcomes: Sequence[Outcome]) -> AppendResult:
        if not outcomes:
            return AppendResult(0, 0)
        return self._append_keyed("outcomes", outcomes_to_arrow(outcomes), "")

    def append_cost_lines(self, lines: Sequence[CostLine]) -> AppendResult:
        if not lines:
            return AppendResult(0, 0)
        return self._append_keyed("cost_lines", cost_lines_to_arrow(lines), "")

    def _append_keyed(self, table_name: str, table: pa.Table, range_filter: str) -> AppendResult:
        key = _KEYS[table_name]
        names = ", ".join(c.name for c in TABLES[table_name])
        g = self._global
        distinct = int(pc.count_distinct(table.column(key)).as_py())
        with self._lock, self._staging(table_name, table) as stage:
            stored = (
                f"SELECT {key} FROM {table_name} WHERE {range_filter}{key} {g}IN (SELECT {key} FROM {stage})"
            )
            # Most batches are all new: one lookup, then the batch moves without a second one.
            known = int(self._client.command(f"SELECT uniqExact({key}) FROM ({stored})"))
            new_rows = f"FROM {stage}" + (f" WHERE {key} {g}NOT IN ({stored})" if known else "")
            accepted = distinct - known
            if accepted:
                self._client.command(
                    f"INSERT INTO {table_name} ({names}) SELECT {names} {new_rows} LIMIT 1 BY {key}"
                )
        return AppendResult(accepted, table.num_rows - accepted)

    @contextmanager
    def _staging(self, like: str, table: pa.Table) -> Iterator[str]:
        """A Memory table shaped like ``like`` holding ``table`` for one statement sequence."""
        name = f"_stage_{uuid.uuid4().hex}"
        self._client.command(f"CREATE TABLE {name} AS {local_name(like, self.options)} ENGINE = Memory")
        try:
            self._client.insert_arrow(name, table)
            yield name
        finally:
            self._client.command(f"DROP TABLE IF EXISTS {name}")

    def delete_cost_lines(self, where_sql: str) -> int:
        with self._lock:
            count = int(self._client.command(f"SELECT count() FROM cost_lines FINAL WHERE {where_sql}"))
            if count:
                target = local_name("cost_lines", self.options) + self.options.on_cluster
                self._client.command(f"DELETE FROM {target} WHERE {where_sql}")
        return count

    def update_event_costs(self, table: pa.Table) -> int:
        """``table`` has event_uuid (binary 16), cost_usd, cost_source, price_ref, unpriced.

        ClickHouse rows are not updated in place: the event is written again with
        the new price and a later ``ingested_at``, and the ReplacingMergeTree keeps
        that version.
        """
        if table.num_rows == 0:
            return 0
        priced = ("cost_usd", "cost_source", "price_ref", "unpriced")
        names = [c.name for c in TABLES["events"]]
        select = ", ".join(f"p.{n} AS {n}" if n in priced else f"e.{n} AS {n}" for n in names)
        g = self._global
        with self._lock:
            stage = f"_prices_{uuid.uuid4().hex}"
            self._client.command(
                f"CREATE TABLE {stage} (event_uuid UUID, "
                f"cost_usd Nullable(Decimal({COST_PRECISION}, {COST_SCALE})), "
                "cost_source Nullable(String), price_ref Nullable(String), unpriced Bool) ENGINE = Memory"
            )
            try:
                self._client.insert_arrow(stage, table.select(["event_uuid", *priced]))
                matched = f"e.event_uuid {g}IN (SELECT event_uuid FROM {stage})"
                changed = int(self._client.command(f"SELECT count() FROM events AS e FINAL WHERE {matched}"))
                if changed:
                    self._client.command(
                        f"INSERT INTO events ({', '.join(names)}, ingested_at) "
                        f"SELECT {select}, now64(6) AS ingested_at FROM events AS e FINAL "
                        f"{g}INNER JOIN (SELECT * FROM {stage} LIMIT 1 BY event_uuid) AS p "
                        f"ON e.event_uuid = p.event_uuid WHERE {matched}"
                    )
            finally:
                self._client.command(f"DROP TABLE IF EXISTS {stage}")
        return changed

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL for adapters that keep their own tables).

        A ``CREATE TABLE`` written for DuckDB (no ENGINE clause) is accepted:
        columns without NOT NULL become Nullable, TIMESTAMP becomes
        ``DateTime64(6, 'UTC')``, and the table is a MergeTree that allows
        nullable keys and lightweight UPDATE/DELETE.
        """
        settings: dict[str, Any] = {}
        if _CREATE_TABLE.match(sql) and not _HAS_ENGINE.search(sql):
            sql = _TIMESTAMP_TYPE.sub("DateTime64(6, 'UTC')", sql.rstrip().rstrip(";"))
            sql += (
                " SETTINGS allow_nullable_key = 1, enable_block_number_column = 1,"
                " enable_block_offset_column = 1"
            )
            settings["data_type_default_nullable"] = 1
        with self._lock:
            self._client.command(sql, settings=settings or None)

    def run_index(self) -> RunIndex | None:
        """Where reports read the run index (merged on read by the session's ``final``); none on a cluster."""
        if self.options.cluster:
            return None
        if not self.options.ttl_days:
            return RunIndex(RUN_INDEX_TABLE)
        # A TTL drops old events in background merges while their runs' index rows stay: the
        # index is exact only for windows that start after anything the TTL can have removed.
        horizon = datetime.now(UTC).date() - timedelta(days=int(self.options.ttl_days) - 1)
        return RunIndex(RUN_INDEX_TABLE, complete_since=horizon)

    def optimize(self, table: str = "events") -> None:
        """Merge parts now (collapsing duplicates) so deduplicated reads are cheap; for after bulk loads."""
        target = local_name(table, self.options) + self.options.on_cluster
        with self._lock:
            self._client.command(f"OPTIMIZE TABLE {target} FINAL")

    def set_retention(self, ttl_days: int | None) -> None:
        """Change how long events and outcomes are kept (``None`` keeps them forever)."""
        options = DDLOptions(self.options.database, self.options.cluster, ttl_days)
        with self._lock:
            for table in ("events", "outcomes"):
                statement = retention_statement(table, options)
                if statement:
                    self._client.command(statement)
        self.options = options

    # -- reads --------------------------------------------------------------

    def query(self, sql: str) -> list[dict[str, Any]]:
        return list(self._client.query(sql).named_results())

    def query_arrow(self, sql: str) -> pa.Table:
        """Arrow result shaped as DuckDB returns it: UUIDs as text, naive UTC timestamps."""
        return arrow_like_duckdb(self._client.query_arrow(sql))

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _chdb_location(path: str) -> str:
    # clickhouse-connect reads chdb://<netloc>/<db>; an absolute path with an empty netloc is the directory.
    return "memory" if path == ":memory:" else path if path.startswith("/") else "/" + path


def arrow_like_duckdb(table: pa.Table) -> pa.Table:
    """Give ClickHouse's Arrow output the types DuckDB's has, so consumers see one shape."""
    columns: list[Any] = []
    fields: list[pa.Field] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        ftype = field.type
        if getattr(ftype, "extension_name", None) == "arrow.uuid":
            raw = pa.chunked_array([chunk.storage for chunk in column.chunks], type=ftype.storage_type)
            column = pa.array(
                [None if b is None else str(uuid.UUID(bytes=b)) for b in raw.to_pylist()], pa.string()
            )
            field = pa.field(field.name, pa.string(), field.nullable)
        elif pa.types.is_timestamp(ftype) and ftype.tz is not None:
            naive = pa.timestamp(ftype.unit)
            column = column.cast(naive)
            field = pa.field(field.name, naive, field.nullable)
        elif pa.types.is_dictionary(ftype):
            column = column.cast(ftype.value_type)
            field = pa.field(field.name, ftype.value_type, field.nullable)
        columns.append(column)
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
