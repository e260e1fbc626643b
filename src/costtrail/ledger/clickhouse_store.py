"""The scale-out store: the ledger in ClickHouse, through clickhouse-connect.

Same protocol and same results as the DuckDB store. An append asks which of
the batch's ids are stored (looked up only in the batch's time range), then
inserts the other rows as one Arrow batch, so ``AppendResult`` counts
duplicates exactly. Each request stands alone (no table lives from one
request to the next), so a load balancer may send every request of an append
to another node; on a cluster inserts are synchronous
(``distributed_foreground_insert``), so an acknowledged append is on its shard
and the next append sees it. The tables are
``ReplacingMergeTree`` (see ``clickhouse_schema``), so even two collectors
racing on one event store it once after merge; reads go through
``dialect.final(table)``. ``chdb://dir`` runs the same client API against the
in-process engine (tests, single-machine use).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc

from costtrail.ledger.clickhouse_schema import DDLOptions, local_name, retention_statement
from costtrail.ledger.clickhouse_url import ClickHouseTarget, parse_clickhouse_url
from costtrail.ledger.columnar import events_to_arrow
from costtrail.ledger.columns import COST_PRECISION, COST_SCALE, TABLES
from costtrail.ledger.migrations import apply_migrations, check_migrations
from costtrail.ledger.rows import cost_lines_to_arrow, outcomes_to_arrow
from costtrail.ledger.run_index import RUN_DAY_INDEX_TABLE, RUN_INDEX_TABLE, RunIndex
from costtrail.ledger.store import (
    ID_MEMORY,
    AppendResult,
    Dialect,
    LedgerError,
    StoreCapabilities,
    id_search,
    sql_literal,
)
from costtrail.ledger.tables import spec
from costtrail.ledger.usage_rollup import UsageRollup
from costtrail.schema import CostLine, Event, Outcome

# Standard-SQL behaviour for SQL written once for both stores: aliases never
# shadow columns, outer joins fill NULLs, JSON_VALUE gives NULL for a missing
# key, and every time is UTC whatever the server's zone. ``final`` reads every
# ReplacingMergeTree deduplicated (as FINAL would) even where a query aliases
# the table, which the FINAL keyword does not allow (``events FINAL e``).
SESSION_SETTINGS: dict[str, Any] = {
    "final": 1,
    # Copies of one event share started_at, hence the (daily) partition: a partition that has
    # merged into one part is read as is, without FINAL's merge-on-read.
    "do_not_merge_across_partitions_select_final": 1,
    # A skip index (run_id, event_uuid) may narrow FINAL reads to the granules it selects:
    # those columns are the same in every version of a row (a reprice rewrites costs only),
    # so no newer version can hide elsewhere. Exact mode re-expanded one run's lookup to the
    # whole table.
    "use_skip_indexes_if_final": 1,
    "use_skip_indexes_if_final_exact_mode": 0,
    # Lazy FINAL (filter first, then merge only the matching keys) would make the unpriced line
    # right after a burst of inserts much cheaper, but it returned no rows for
    # `WHERE unpriced` on a freshly inserted table: off, explicitly (newer versions may turn it
    # on by default). tests/contract/test_contract_reprice.py guards it.
    "query_plan_optimize_lazy_final": 0,
    "session_timezone": "UTC",
    # Events are partitioned by day: a backfill, a copy or a reprice can write more days in one
    # insert than the default limit of 100 partitions.
    "max_partitions_per_insert_block": 0,
    # CAST of a NULL is NULL, as in standard SQL (a distributed sum of NULLs reached a cast to
    # DOUBLE as NULL and failed with CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN).
    "cast_keep_nullable": 1,
    "prefer_column_name_to_alias": 1,
    "join_use_nulls": 1,
    "function_json_value_return_type_allow_nullable": 1,
}

# On a cluster: an insert through a Distributed table returns once every shard has its rows
# (asynchronous by default: an acknowledged append could be lost, or re-sent ids counted as new).
CLUSTER_SETTINGS: dict[str, Any] = {"distributed_foreground_insert": 1}

_KEYS = {"events": "event_uuid", "outcomes": "outcome_id", "cost_lines": "line_id"}
# Ids per lookup or repricing statement, and the statement size that allows (literal lists).
_IDS_PER_STATEMENT = 20_000
_MAX_QUERY_BYTES = 16 * 1024 * 1024


# The non-nullable columns of a table's sorting key (clickhouse_schema.LAYOUTS), shared by every
# version of a row.
_VERSION_KEYS = {"events": "toDate(started_at), event_uuid"}


_HISTORY = "event_uuid, cost_usd, cost_source, price_ref, unpriced"  # price_history's copied columns


class ClickHouseDialect:
    """SQL spellings for ClickHouse (backslash-escaped strings, UTC DateTime64 literals, Decimal money)."""

    name = "clickhouse"
    # uniqExact counts millions of runs as fast as a second grouping stage would; run status is
    # read from the events, not regrouped from the first stage.
    stage_run_counts = False
    status_from_first_stage = False

    def __init__(self, *, cluster: bool = False) -> None:
        self._in = "GLOBAL IN" if cluster else "IN"

    def date_literal(self, value: date) -> str:
        return f"toDate({sql_literal(value.isoformat())})"

    def arg_max(self, value: str, by: str, where: str | None = None) -> str:
        return f"argMaxIf({value}, {by}, {where})" if where else f"argMax({value}, {by})"

    def max_where(self, expr: str, where: str) -> str:
        return f"maxIf({expr}, {where})"

    def in_select(self, expr: str, select: str, *, negate: bool = False) -> str:
        # On a cluster each shard would run a plain IN's subquery over the Distributed table again
        # (refused: DISTRIBUTED_IN_JOIN_SUBQUERY_DENIED); GLOBAL runs it once and ships the set.
        spelled = self._in.replace("IN", "NOT IN") if negate else self._in  # GLOBAL NOT IN
        return f"{expr} {spelled} ({select})"

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
        # (right after a burst of inserts, slow for a handful of rows). Every version of a row
        # shares the sorting key (a reprice rewrites costs and `unpriced` only), so the keys any
        # version matches, read without FINAL, bound the rows to merge, and the primary index
        # skips the other granules (figures: bench/RESULTS.md, scale). Only the key's non-nullable columns:
        # NULL never matches IN (the full key is wrong for events with no tenant or workflow).
        key = _VERSION_KEYS.get(table)
        if key is None:
            raise ValueError(f"no candidate key for table {table!r}: only {sorted(_VERSION_KEYS)}")
        return f"({key}) {self._in} (SELECT {key} FROM {table} WHERE {predicate} SETTINGS final = 0)"

    def ingested_since(self, window: timedelta) -> str:
        return f"now64(6) - INTERVAL {int(window.total_seconds())} SECOND"


class ClickHouseStore:
    """A ledger in ClickHouse (a server, a cluster, or the in-process chdb engine).

    With the in-process engine (``pip install chdb``)::

        store = ClickHouseStore.from_url("chdb:///tmp/ledger?database=demo")
        store.append_events([Event(model="gpt-4o-mini", provider="openai")]).accepted  # 1
    """

    def __init__(
        self, client: Any, target: ClickHouseTarget, *, id_memory: timedelta = ID_MEMORY, migrate: bool = True
    ) -> None:
        self._client = client
        self.id_memory = id_memory
        self.target = target
        self.url = target.display_url
        self.dialect: Dialect = ClickHouseDialect(cluster=bool(target.cluster))
        self.options = DDLOptions(
            database=target.database,
            cluster=target.cluster,
            ttl_days=target.ttl_days,
            # The one difference between chdb's cluster and a server's (clickhouse_schema.py).
            distributed_ddl=target.engine != "chdb",
        )
        self._lock = threading.RLock()
        try:
            if migrate:
                self.migrations_applied = apply_migrations(self, self.options)
            else:
                check_migrations(self, self.options)
                self.migrations_applied = []
        except BaseException:
            client.close()  # a store that failed to open holds no connection (chdb: its engine)
            raise
        self._client.database = target.database

    @classmethod
    def from_url(cls, url: str, *, id_memory: timedelta = ID_MEMORY, migrate: bool = True) -> ClickHouseStore:
        """Open ``clickhouse://user:pass@host:8123/db`` or ``chdb://dir``.

        Pending migrations are applied (the account needs DDL rights); with
        ``migrate=False`` a schema that is behind is a :class:`LedgerError`
        naming the missing migrations.
        """
        target = parse_clickhouse_url(url)
        settings = {**SESSION_SETTINGS, **(CLUSTER_SETTINGS if target.cluster else {})}
        try:
            if target.engine == "chdb":
                options = {"config-file": target.config} if target.config else None
                client = clickhouse_connect.get_client(
                    dsn=f"chdb://{_chdb_location(target.path)}", chdb_options=options
                )
                for key, value in settings.items():
                    client.set_client_setting(key, value)
            else:
                client = clickhouse_connect.get_client(
                    host=target.host,
                    port=target.port,
                    username=target.username,
                    password=target.password,
                    secure=target.secure,
                    settings=settings,
                    compress="lz4",
                    autogenerate_session_id=False,
                )
        except ImportError as exc:
            raise LedgerError(f"{target.display_url} needs chdb: pip install chdb ({exc})") from exc
        except Exception as exc:
            raise LedgerError(f"cannot connect to the ClickHouse ledger {target.display_url}: {exc}") from exc
        return cls(client, target, id_memory=id_memory, migrate=migrate)

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
        batch = _first_of_each(table, key)
        with self._lock:
            stored = self._stored_keys(table_name, key, batch.column(key), range_filter)
            if stored:
                keys = batch.column(key).cast(pa.binary()) if key == "event_uuid" else batch.column(key)
                batch = batch.filter(pc.invert(pc.is_in(keys, value_set=pa.array(stored, keys.type))))
            if batch.num_rows:
                self._client.insert_arrow(table_name, batch)
        return AppendResult(batch.num_rows, table.num_rows - batch.num_rows)

    def _stored_keys(self, table_name: str, key: str, ids: pa.ChunkedArray, range_filter: str) -> list[Any]:
        """The ids of ``ids`` already stored (UUIDs as 16 bytes), asked in self-contained statements."""
        found: list[Any] = []
        values = ids.to_pylist()
        for start in range(0, len(values), _IDS_PER_STATEMENT):
            chunk = values[start : start + _IDS_PER_STATEMENT]
            listed = ", ".join(_key_literal(v) for v in chunk)
            rows = self._client.query(
                f"SELECT DISTINCT {key} FROM {table_name} WHERE {range_filter}{key} IN ({listed})",
                settings={"max_query_size": _MAX_QUERY_BYTES},
            ).result_rows
            found += [r[0].bytes if isinstance(r[0], uuid.UUID) else r[0] for r in rows]
        return found

    def update_event_costs(self, table: pa.Table) -> int:
        """``table`` has event_uuid (binary 16), cost_usd, cost_source, price_ref, unpriced.

        ClickHouse rows are not updated in place: the event is written again with
        the new price and a later ``ingested_at``, and the ReplacingMergeTree keeps
        that version. The new prices travel in the statement itself (``values``),
        so each statement stands alone.
        """
        if table.num_rows == 0:
            return 0
        priced = ("cost_usd", "cost_source", "price_ref", "unpriced")
        names = [c.name for c in TABLES["events"]]
        select = ", ".join(f"p.{n} AS {n}" if n in priced else f"e.{n} AS {n}" for n in names)
        structure = (
            f"event_uuid UUID, cost_usd Nullable(Decimal({COST_PRECISION}, {COST_SCALE})), "
            "cost_source Nullable(String), price_ref Nullable(String), unpriced Bool"
        )
        lit = self.dialect.literal
        rows = _first_of_each(table, "event_uuid").select(["event_uuid", *priced]).to_pylist()
        changed = 0
        with self._lock:
            for start in range(0, len(rows), _IDS_PER_STATEMENT):
                chunk = rows[start : start + _IDS_PER_STATEMENT]
                tuples = ", ".join(
                    f"({_key_literal(r['event_uuid'])}, {lit(r['cost_usd'])}, {lit(r['cost_source'])}, "
                    f"{lit(r['price_ref'])}, {lit(bool(r['unpriced']))})"
                    for r in chunk
                )
                ids = ", ".join(_key_literal(r["event_uuid"]) for r in chunk)
                matched = f"e.event_uuid IN ({ids})"
                settings = {"max_query_size": _MAX_QUERY_BYTES}
                found = int(
                    self._client.command(
                        f"SELECT count() FROM events AS e FINAL WHERE {matched}", settings=settings
                    )
                )
                if found:
                    # The price each event has now becomes history before the new version lands.
                    self._client.command(
                        f"INSERT INTO price_history ({_HISTORY}, superseded_at) "
                        f"SELECT {', '.join('e.' + c for c in _HISTORY.split(', '))}, now64(6) "
                        f"FROM events AS e FINAL WHERE {matched}",
                        settings=settings,
                    )
                    self._client.command(
                        f"INSERT INTO events ({', '.join(names)}, ingested_at) "
                        f"SELECT {select}, now64(6) AS ingested_at FROM events AS e FINAL "
                        f"INNER JOIN (SELECT * FROM values('{structure}', {tuples})) AS p "
                        f"ON e.event_uuid = p.event_uuid WHERE {matched}",
                        settings=settings,
                    )
                changed += found
        return changed

    @property
    def capabilities(self) -> StoreCapabilities:
        # clickhouse-connect's HTTP client is safe across threads when it holds no session; the
        # embedded chdb engine is not. Old events leave by TTL (ttl_days), not by DELETE.
        return StoreCapabilities(concurrent_reads=self.target.engine == "server", deletes_events=False)

    def ensure_table(self, name: str) -> None:
        """Registry tables are created by migration 3 (cluster-wide on a cluster); this checks the name."""
        spec(name)

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (an INSERT into a registry table)."""
        with self._lock:
            self._client.command(sql)

    def delete_rows(self, table: str, where_sql: str) -> int:
        spec(table)  # only the registry's tables
        return self._delete(table, where_sql)

    def delete_cost_lines(self, where_sql: str) -> int:
        return self._delete("cost_lines", where_sql)

    def _delete(self, table: str, where_sql: str) -> int:
        with self._lock:
            count = int(self._client.command(f"SELECT count() FROM {table} WHERE {where_sql}"))
            if count:
                target = local_name(table, self.options) + self.options.on_cluster
                self._client.command(f"DELETE FROM {target} WHERE {where_sql}")
        return count

    def delete_events(self, where_sql: str) -> int:
        raise LedgerError(
            "a ClickHouse ledger drops old events by TTL: add ?ttl_days=N to its URL, "
            "or call store.set_retention(N)"
        )

    def checkpoint(self) -> None:
        """Nothing to do: ClickHouse writes each insert to its parts."""

    def limit_threads(self, threads: int) -> None:
        """Nothing to do: the engine's threads are the server's (or chdb's) own."""

    def usage_rollup(self) -> UsageRollup | None:
        """None: invoices read a ClickHouse ledger's events (its engine groups them fast enough)."""
        return None

    def run_index(self) -> RunIndex | None:
        """Where reports read the run index (merged on read by the session's ``final``); none on a cluster."""
        if self.options.cluster:
            return None
        if not self.options.ttl_days:
            return RunIndex(RUN_INDEX_TABLE, read_once=True, by_day=RUN_DAY_INDEX_TABLE)
        # A TTL drops old events in background merges while their runs' index rows stay: the
        # index is exact only for windows that start after anything the TTL can have removed.
        horizon = datetime.now(UTC).date() - timedelta(days=int(self.options.ttl_days) - 1)
        return RunIndex(RUN_INDEX_TABLE, complete_since=horizon, read_once=True, by_day=RUN_DAY_INDEX_TABLE)

    def optimize(self, table: str = "events") -> None:
        """Merge parts now (collapsing duplicates) so deduplicated reads are cheap; for after bulk loads."""
        target = local_name(table, self.options) + self.options.on_cluster
        with self._lock:
            self._client.command(f"OPTIMIZE TABLE {target} FINAL")

    def set_retention(self, ttl_days: int | None) -> None:
        """Change how long events and outcomes are kept (``None`` keeps them forever)."""
        options = self.options.with_ttl(ttl_days)
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


def _first_of_each(table: pa.Table, key: str) -> pa.Table:
    """The table's rows with the first row of each ``key`` only (a batch may repeat an id)."""
    column = table.column(key)
    if pc.count_distinct(column).as_py() == len(column):
        return table
    numbered = pa.table({"k": column, "i": pa.array(range(len(column)), pa.int64())})
    first = numbered.group_by("k", use_threads=False).aggregate([("i", "min")]).column("i_min")
    return table.take(sorted(first.to_pylist()))


def _key_literal(value: Any) -> str:
    """An id as a literal: a UUID's 16 bytes as its text, other ids quoted."""
    if isinstance(value, bytes | bytearray):
        return f"'{uuid.UUID(bytes=bytes(value))}'"
    return sql_literal(value, backslash_escapes=True)


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
