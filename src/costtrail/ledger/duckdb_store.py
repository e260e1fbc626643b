"""The embedded default store: one DuckDB file, one writer.

DuckDB lets one process hold a file open for writing; this store owns that
connection and serializes writes through a lock, while readers use cursors on
the same connection. A second process gets :class:`LedgerLockedError` with
the fix (ship to the collector that owns the file).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from costtrail.ledger.columnar import events_to_arrow
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
    RUN_INDEX_DELTA,
    RUN_INDEX_TABLE,
    RunIndex,
    duckdb_compaction,
    duckdb_ddl,
    duckdb_merged_relation,
    duckdb_partials_sql,
)
from costtrail.ledger.store import (
    ID_MEMORY,
    AppendResult,
    Dialect,
    LedgerError,
    LedgerLockedError,
    StoreCapabilities,
    id_search,
    sql_literal,
)
from costtrail.ledger.tables import TableSpec, spec
from costtrail.ledger.usage_rollup import (
    RUN_USAGE,
    RUN_USAGE_DELTA,
    USAGE_DAILY,
    UsageRollup,
    daily_compaction,
    daily_ddl,
    daily_partials_sql,
    run_partials_sql,
    runs_compaction,
    runs_ddl,
    runs_merged_relation,
    runs_refresh,
)

if TYPE_CHECKING:  # Arrow and the schema's models are imported by the methods that write
    import pyarrow as pa

    from costtrail.schema import CostLine, Event, Outcome

_TYPES = {
    "uuid": "UUID",
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "cost": f"DECIMAL({COST_PRECISION},{COST_SCALE})",
    "amount": f"DECIMAL({AMOUNT_PRECISION},{AMOUNT_SCALE})",
    "qty": f"DECIMAL({QTY_PRECISION},{QTY_SCALE})",
    "json": "VARCHAR",
}

_KEYS = {"events": "event_uuid", "outcomes": "outcome_id", "cost_lines": "line_id"}

# Fold the run index's delta in once it holds this many rows. Reads merge the delta with one
# outer join (its cost grows with the delta); a compaction costs about two scans of the index,
# so rarer compactions cost ingest less (run_index.py; the scale figures are in bench/RESULTS.md).
RUN_INDEX_COMPACT_ROWS = 100_000


class DuckDBDialect:
    name = "duckdb"
    # Measured (bench_scale): a second grouping stage beats count(DISTINCT run_id) and a second
    # pass over the events for run status.
    stage_run_counts = True
    status_from_first_stage = True

    def literal(self, value: Any) -> str:
        return sql_literal(value)

    def quantile(self, expr: str, q: float) -> str:
        return f"quantile_cont({expr}, {q})"

    def day(self, expr: str) -> str:
        # Timestamps are naive UTC: the cast truncates to the day, cheaper than date_trunc.
        return f"CAST({expr} AS DATE)"

    def json_value(self, expr: str, key: str) -> str:
        return f"json_extract_string({expr}, {sql_literal('$.' + key)})"

    def final(self, table: str) -> str:
        return table

    def date_literal(self, value: date) -> str:
        return f"CAST({sql_literal(value.isoformat())} AS DATE)"

    def arg_max(self, value: str, by: str, where: str | None = None) -> str:
        return f"arg_max({value}, {by})" + (f" FILTER (WHERE {where})" if where else "")

    def max_where(self, expr: str, where: str) -> str:
        return f"max({expr}) FILTER (WHERE {where})"

    def in_select(self, expr: str, select: str, *, negate: bool = False) -> str:
        return f"{expr} {'NOT IN' if negate else 'IN'} ({select})"

    def candidates(self, table: str, predicate: str) -> str:
        return "TRUE"  # one version of each row: nothing to narrow before deduplicating

    def ingested_since(self, window: timedelta) -> str:
        # ingested_at is stored as now() cast to TIMESTAMP: the same cast keeps one time basis.
        return f"CAST(now() AS TIMESTAMP) - INTERVAL {int(window.total_seconds())} SECOND"


def _ddl(table: str, columns: tuple[Column, ...]) -> str:
    cols = ",\n  ".join(f"{c.name} {_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}" for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols},\n  ingested_at TIMESTAMP DEFAULT now()\n)"


def spec_ddl(table: TableSpec) -> str:
    """DuckDB's CREATE TABLE for a table of the schema registry."""
    defaults = dict(table.defaults)
    cols = []
    for c in table.columns:
        cols.append(f"{c.name} {_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}")
        if c.name in defaults:
            cols[-1] += f" DEFAULT {defaults[c.name]}"
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n  {', '.join(cols)}\n)"


def _select_list(columns: tuple[Column, ...]) -> str:
    return ", ".join(f"CAST({c.name} AS UUID) AS {c.name}" if c.kind == "uuid" else c.name for c in columns)


class DuckDBStore:
    """A ledger in one DuckDB file (or ``:memory:``).

    >>> from costtrail.schema import Event
    >>> store = DuckDBStore(":memory:")
    >>> store.append_events([Event(model="gpt-4o-mini", provider="openai")]).accepted
    1
    """

    def __init__(
        self,
        path: str | Path = "costtrail.duckdb",
        *,
        read_only: bool = False,
        id_memory: timedelta = ID_MEMORY,
    ) -> None:
        self.path = str(path)
        self.id_memory = id_memory
        self.url = f"duckdb://{self.path}"
        self.dialect: Dialect = DuckDBDialect()
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise LedgerLockedError(
                    f"the ledger file {self.path} is open for writing in another process. "
                    "A DuckDB ledger has one writer: stop that process, or send events to the collector "
                    "that owns the file (costtrail serve) with costtrail.configure(endpoint=...)."
                ) from exc
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger's folder for {self.path}: {exc}") from exc
        self._conn.execute("SET preserve_insertion_order = false")
        self._delta_rows = 0
        self._usage_rows = 0  # daily rollup rows added since its last compaction (usage_rollup.py)
        self._run_usage_delta_rows = 0
        if not read_only:
            for table, columns in TABLES.items():
                self._conn.execute(_ddl(table, columns))
            for table, added in ADDED_COLUMNS.items():  # a ledger file written before they existed
                for column, _after in added:
                    kind = _TYPES[column.kind] + ("" if column.nullable else " DEFAULT 0")
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column.name} {kind}")
            self._open_run_index()
        self._read_only = read_only
        # Kept from the first time invoices read it (usage_rollup(), on a writable store): a ledger
        # nobody bills from does not pay for it on every append.
        self._has_usage_rollup = self._has_table(RUN_USAGE_DELTA)
        if self._has_usage_rollup:
            row = self._conn.execute(f"SELECT count(*) FROM {RUN_USAGE_DELTA}").fetchone()
            self._run_usage_delta_rows = int(row[0]) if row else 0
        self._has_run_index = self._has_table(RUN_INDEX_DELTA)
        if self._has_run_index:
            row = self._conn.execute(f"SELECT count(*) FROM {RUN_INDEX_DELTA}").fetchone()
            self._delta_rows = int(row[0]) if row else 0

    def _open_run_index(self) -> None:
        """Create the run index; a ledger written before it existed gets it built from its events."""
        existed = self._has_table(RUN_INDEX_TABLE)
        for statement in duckdb_ddl():
            self._conn.execute(statement)
        if not existed:
            self.rebuild_run_index()

    def _has_table(self, name: str) -> bool:
        row = self._conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
            "AND database_name = current_database()",
            [name],
        ).fetchone()
        return bool(row and row[0])

    # -- writes -------------------------------------------------------------

    def append_events(self, events: Sequence[Event]) -> AppendResult:
        if not events:
            return AppendResult(0, 0)
        return self.append_event_table(events_to_arrow(events))

    def append_event_table(self, table: pa.Table) -> AppendResult:
        if table.num_rows == 0:
            return AppendResult(0, 0)
        import pyarrow.compute as pc

        columns = TABLES["events"]
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.register("_batch", table)
                cur.execute("BEGIN TRANSACTION")
                bounds = pc.min_max(table.column("started_at"))
                # Repeats inside the batch are rare (the collector drops them first); the window
                # that keeps one copy costs ~a third of a small append, so only run it when needed.
                ids = table.column("event_uuid")
                repeats = pc.count_distinct(ids).as_py() < len(ids)
                once = "QUALIFY row_number() OVER (PARTITION BY b.event_uuid) = 1" if repeats else ""
                # One anti-join per place a stored copy can be (id_search), so that zone maps prune
                # each: the batch's started_at range, and the recently ingested rows.
                absent = " AND ".join(
                    f"NOT EXISTS (SELECT 1 FROM events e WHERE e.{where} "
                    "AND e.event_uuid = CAST(b.event_uuid AS UUID))"
                    for where in id_search(
                        self.dialect, bounds["min"].as_py(), bounds["max"].as_py(), self.id_memory
                    )
                )
                into = f"INSERT INTO events ({', '.join(c.name for c in columns)}) "
                new = f"SELECT {_select_list(columns)} FROM _batch b WHERE {absent} {once}"
                row = cur.execute(into + new).fetchone()
                inserted = int(row[0]) if row else 0
                source = "_batch"
                if 0 < inserted < table.num_rows:
                    # Some were stored already (a retry): the usage rollup must add only the rest,
                    # so this rare append is made again with the new rows kept apart.
                    cur.execute("ROLLBACK")
                    cur.execute("BEGIN TRANSACTION")
                    cur.execute(f"CREATE OR REPLACE TEMP TABLE _stored AS {new}")
                    row = cur.execute(into + "SELECT * FROM _stored").fetchone()
                    inserted, source = (int(row[0]) if row else 0), "_stored"
                if inserted:
                    self._add_usage(cur, source)
                    # In the same transaction: an event stored without its run in the index
                    # would make the index wrong, not just slow.
                    row = cur.execute(
                        f"INSERT INTO {RUN_INDEX_DELTA} BY NAME {duckdb_partials_sql('_batch')}"
                    ).fetchone()
                    self._delta_rows += int(row[0]) if row else 0
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("_batch")
                cur.execute("DROP TABLE IF EXISTS _stored")
                cur.close()
            if self._delta_rows >= RUN_INDEX_COMPACT_ROWS:
                self.compact_run_index()
            self._compact_usage_if_grown()
        return AppendResult(inserted, table.num_rows - inserted)

    # -- the usage rollup (usage_rollup.py) ------------------------------------

    def _add_usage(self, cur: duckdb.DuckDBPyConnection, source: str) -> None:
        """Roll up the events an append stored (``source``: the batch, or the rows kept of it)."""
        if not self._has_usage_rollup:
            return
        row = cur.execute(f"INSERT INTO {USAGE_DAILY} BY NAME {daily_partials_sql(source)}").fetchone()
        self._usage_rows += int(row[0]) if row else 0
        row = cur.execute(f"INSERT INTO {RUN_USAGE_DELTA} BY NAME {run_partials_sql(source)}").fetchone()
        self._run_usage_delta_rows += int(row[0]) if row else 0

    def _compact_usage_if_grown(self) -> None:
        if max(self._usage_rows, self._run_usage_delta_rows) >= RUN_INDEX_COMPACT_ROWS:
            self.compact_usage_rollup()

    def compact_usage_rollup(self) -> None:
        """Regroup the daily rows and fold the run rows' delta in (one transaction)."""
        if not self._has_usage_rollup:
            return
        with self._lock:
            with self._transaction() as cur:
                for statement in (*daily_compaction(), *runs_compaction()):
                    cur.execute(statement)
            self._usage_rows = self._run_usage_delta_rows = 0

    def _roll_back_usage(self, cur: duckdb.DuckDBPyConnection, rows: str, *, negate: bool) -> None:
        """Add (or take away) the daily rows of the events ``rows`` selects, in the caller's transaction."""
        if not self._has_usage_rollup:
            return
        source = f"(SELECT * FROM events WHERE {rows})"
        row = cur.execute(
            f"INSERT INTO {USAGE_DAILY} BY NAME {daily_partials_sql(source, negate=negate)}"
        ).fetchone()
        self._usage_rows += int(row[0]) if row else 0

    def usage_rollup(self) -> UsageRollup | None:
        """Where invoices read the usage rollup (``usage_rollup.py``).

        The first call on a writable ledger without one builds it from the events; appends keep
        it from then on. A read-only ledger without one has none (invoices read the events).
        """
        if not self._has_usage_rollup:
            if self._read_only:
                return None
            with self._lock:
                if not self._has_usage_rollup:  # another thread may have built it meanwhile
                    self.rebuild_usage_rollup()
        runs = RUN_USAGE if self._run_usage_delta_rows == 0 else runs_merged_relation()
        return UsageRollup(USAGE_DAILY, runs)

    def rebuild_usage_rollup(self) -> None:
        """Build the usage rollup from all events (after loading events by SQL, or for an older ledger)."""
        with self._lock:
            with self._transaction() as cur:
                for statement in (daily_ddl(), *runs_ddl()):
                    cur.execute(statement)
                for table in (USAGE_DAILY, RUN_USAGE, RUN_USAGE_DELTA):
                    cur.execute(f"DELETE FROM {table}")
                cur.execute(f"INSERT INTO {USAGE_DAILY} BY NAME {daily_partials_sql('events')}")
                cur.execute(f"INSERT INTO {RUN_USAGE} BY NAME {run_partials_sql('events')}")
            self._usage_rows = self._run_usage_delta_rows = 0
            self._has_usage_rollup = True

    # -- the run index (run_index.py) -----------------------------------------

    def run_index(self) -> RunIndex | None:
        """Where reports read the run index: the table, or the table merged with its delta."""
        if not self._has_run_index:
            return None
        return RunIndex(RUN_INDEX_TABLE if self._delta_rows == 0 else duckdb_merged_relation())

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction under the write lock: committed, or rolled back on error."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def compact_run_index(self) -> None:
        """Fold the run index's delta into the index (one transaction; readers see before or after)."""
        with self._lock:  # re-entrant: the reset below stays under the lock, after the commit
            with self._transaction() as cur:
                for statement in duckdb_compaction():
                    cur.execute(statement)
            self._delta_rows = 0  # only once committed: until then reads must merge the delta

    def delete_events(self, where_sql: str) -> int:
        """Delete the events matching a WHERE clause (retention on DuckDB); returns rows deleted.

        The runs those events belonged to get their run index rows rebuilt from
        the events they have left, in the same transaction (an index row that
        outlived its events would count a run that is gone).
        """
        with self._transaction() as cur:
            cur.execute(
                "CREATE OR REPLACE TEMP TABLE _touched AS "
                f"SELECT DISTINCT run_id FROM events WHERE run_id IS NOT NULL AND ({where_sql})"
            )
            self._roll_back_usage(cur, f"({where_sql})", negate=True)
            row = cur.execute(f"DELETE FROM events WHERE {where_sql}").fetchone()
            deleted = int(row[0]) if row else 0
            for statement in runs_refresh("_touched") if self._has_usage_rollup else ():
                cur.execute(statement)
            for table in (RUN_INDEX_TABLE, RUN_INDEX_DELTA):
                cur.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM _touched)")
            left = "(SELECT * FROM events WHERE run_id IN (SELECT run_id FROM _touched))"
            cur.execute(f"INSERT INTO {RUN_INDEX_TABLE} BY NAME {duckdb_partials_sql(left)}")
            cur.execute("DROP TABLE _touched")
        return deleted

    def rebuild_run_index(self) -> None:
        """Build the run index from all events (after loading events by SQL, or for an older ledger)."""
        with self._lock:
            with self._transaction() as cur:
                cur.execute(f"DELETE FROM {RUN_INDEX_TABLE}")
                cur.execute(f"DELETE FROM {RUN_INDEX_DELTA}")
                cur.execute(f"INSERT INTO {RUN_INDEX_TABLE} BY NAME {duckdb_partials_sql('events')}")
            self._delta_rows = 0

    def append_outcomes(self, outcomes: Sequence[Outcome]) -> AppendResult:
        from costtrail.ledger.rows import outcomes_to_arrow

        return self._append_keyed("outcomes", outcomes_to_arrow(outcomes) if outcomes else None)

    def append_cost_lines(self, lines: Sequence[CostLine]) -> AppendResult:
        from costtrail.ledger.rows import cost_lines_to_arrow

        return self._append_keyed("cost_lines", cost_lines_to_arrow(lines) if lines else None)

    def _append_keyed(self, table_name: str, table: pa.Table | None) -> AppendResult:
        if table is None or table.num_rows == 0:
            return AppendResult(0, 0)
        key = _KEYS[table_name]
        names = ", ".join(c.name for c in TABLES[table_name])
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.register("_batch", table)
                row = cur.execute(
                    f"""INSERT INTO {table_name} ({names}) SELECT {names} FROM _batch b
                        WHERE b.{key} NOT IN (SELECT {key} FROM {table_name})
                        QUALIFY row_number() OVER (PARTITION BY b.{key}) = 1"""
                ).fetchone()
                inserted = int(row[0]) if row else 0
            finally:
                cur.unregister("_batch")
                cur.close()
        return AppendResult(inserted, table.num_rows - inserted)

    def stored_event_keys(self, table: pa.Table) -> set[bytes]:
        """The ``event_uuid`` values of an event table already in the ledger (what an append would skip).

        Searched as ``append_event_table`` searches (``id_search``).
        """
        if table.num_rows == 0:
            return set()
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.register("_probe", table.select(["event_uuid", "started_at"]))
                bounds = cur.execute("SELECT min(started_at), max(started_at) FROM _probe").fetchone()
                assert bounds is not None
                found = cur.execute(
                    " UNION ".join(
                        f"""SELECT e.event_uuid FROM events e WHERE e.{where}
                            AND e.event_uuid IN (SELECT CAST(event_uuid AS UUID) FROM _probe)"""
                        for where in id_search(self.dialect, bounds[0], bounds[1], self.id_memory)
                    )
                ).fetchall()
            finally:
                cur.unregister("_probe")
                cur.close()
        return {key.bytes for (key,) in found}

    def delete_cost_lines(self, where_sql: str) -> int:
        with self._lock:
            row = self._conn.execute(f"DELETE FROM cost_lines WHERE {where_sql}").fetchone()
        return int(row[0]) if row else 0

    def update_event_costs(self, table: pa.Table) -> int:
        """``table`` has event_uuid (binary 16), cost_usd, cost_source, price_ref, unpriced.

        The price each event had is kept in ``price_history`` (until now), in the same transaction.
        """
        if table.num_rows == 0:
            return 0
        with self._lock:
            self.ensure_table("price_history")
            cur = self._conn.cursor()
            try:
                cur.register("_prices", table)
                cur.execute("BEGIN TRANSACTION")
                cur.execute(
                    """INSERT INTO price_history
                       (event_uuid, cost_usd, cost_source, price_ref, unpriced, superseded_at)
                       SELECT e.event_uuid, e.cost_usd, e.cost_source, e.price_ref, e.unpriced,
                              CAST(now() AS TIMESTAMP)
                       FROM events e WHERE e.event_uuid IN (SELECT CAST(event_uuid AS UUID) FROM _prices)"""
                )
                repriced = "event_uuid IN (SELECT CAST(event_uuid AS UUID) FROM _prices)"
                self._roll_back_usage(cur, repriced, negate=True)
                row = cur.execute(
                    """UPDATE events SET cost_usd = p.cost_usd, cost_source = p.cost_source,
                           price_ref = p.price_ref, unpriced = p.unpriced
                       FROM _prices p WHERE events.event_uuid = CAST(p.event_uuid AS UUID)"""
                ).fetchone()
                self._roll_back_usage(cur, repriced, negate=False)
                cur.execute(
                    "CREATE OR REPLACE TEMP TABLE _repriced_runs AS SELECT DISTINCT run_id FROM events "
                    f"WHERE run_id IS NOT NULL AND {repriced}"
                )
                for statement in runs_refresh("_repriced_runs") if self._has_usage_rollup else ():
                    cur.execute(statement)
                cur.execute("DROP TABLE _repriced_runs")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("_prices")
                cur.close()
        return int(row[0]) if row else 0

    @property
    def capabilities(self) -> StoreCapabilities:
        return StoreCapabilities(concurrent_reads=True, deletes_events=True)

    def ensure_table(self, name: str) -> None:
        """Create a registry table on first use (a DuckDB ledger holds only the tables it has used)."""
        self.execute(spec_ddl(spec(name)))

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (INSERTs into registry tables, session SETs)."""
        with self._lock:
            self._conn.execute(sql)

    def delete_rows(self, table: str, where_sql: str) -> int:
        spec(table)  # only the registry's tables
        with self._lock:
            row = self._conn.execute(f"DELETE FROM {table} WHERE {where_sql}").fetchone()
        return int(row[0]) if row else 0

    def limit_threads(self, threads: int) -> None:
        self.execute(f"SET threads = {max(1, int(threads))}")

    # -- reads --------------------------------------------------------------

    def query(self, sql: str) -> list[dict[str, Any]]:
        cur = self._conn.cursor()
        try:
            result = cur.execute(sql)
            names = [d[0] for d in result.description or ()]
            return [dict(zip(names, r, strict=True)) for r in result.fetchall()]
        finally:
            cur.close()

    def query_arrow(self, sql: str) -> pa.Table:
        cur = self._conn.cursor()
        try:
            # A relation streams straight to Arrow; a DB-API result would copy the rows (and warn).
            relation = cur.sql(sql)
            if relation is None:
                import pyarrow as pa

                return pa.table({})
            return relation.to_arrow_table()
        finally:
            cur.close()

    def checkpoint(self) -> None:
        with self._lock:
            self._conn.execute("CHECKPOINT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
