"""Versioned schema migrations for the ClickHouse ledger, applied when a store opens.

Each migration has a version, a name and the statements it runs (generated
for the store's options: single server or cluster, retention). Applied
versions are recorded in ``costtrail_migrations``; opening a store applies
the missing ones in order, so every collector that starts brings the schema
up to date and a second start does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from costtrail.ledger.clickhouse_schema import (
    DDLOptions,
    add_column_statements,
    create_spec_table,
    create_table,
    engine_clause,
    quote_ident,
    run_day_index_statements,
    run_index_statements,
)
from costtrail.ledger.store import LedgerError
from costtrail.ledger.tables import MIGRATIONS_TABLE, SPECS


class CommandRunner(Protocol):
    """The part of a ClickHouse client the migrator needs."""

    def command(self, cmd: str) -> object: ...

    def query_rows(self, sql: str) -> list[tuple[object, ...]]: ...


@dataclass(frozen=True)
class Migration:
    """One schema step: ``build(options)`` returns the statements to run."""

    version: int
    name: str
    build: Callable[[DDLOptions], list[str]]

    def statements(self, options: DDLOptions) -> list[str]:
        return self.build(options)


def _v1_tables(options: DDLOptions) -> list[str]:
    return [
        *create_table("events", options),
        *create_table("outcomes", options),
        *create_table("cost_lines", options),
    ]


def _v3_registry_tables(options: DDLOptions) -> list[str]:
    return [statement for spec in SPECS.values() for statement in create_spec_table(spec, options)]


def _v5_price_history(options: DDLOptions) -> list[str]:
    return create_spec_table(SPECS["price_history"], options)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events, outcomes and cost_lines tables", _v1_tables),
    Migration(2, "run index (one row per run) filled by a materialized view", run_index_statements),
    Migration(3, "alerts, eval_results and content tables", _v3_registry_tables),
    Migration(4, "events.cache_write_1h_tokens (one-hour cache writes)", add_column_statements),
    Migration(5, "price_history (every earlier price of a repriced event)", _v5_price_history),
    Migration(6, "events.cost_estimate_usd (incomplete calls)", add_column_statements),
    Migration(7, "events.web_searches, file_searches, code_executions (tool fees)", add_column_statements),
    Migration(8, "run index by day (one row per run and day, sorted by day)", run_day_index_statements),
)


def _migrations_table_ddl(options: DDLOptions) -> str:
    db = quote_ident(options.database)
    engine = engine_clause(MIGRATIONS_TABLE, options)
    if options.replicated:
        # One replication group over the whole cluster (no {shard}): every node sees every version.
        path = f"/clickhouse/tables/{options.database}/{MIGRATIONS_TABLE}"
        engine = f"ReplicatedReplacingMergeTree('{path}', '{{replica}}')"
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS_TABLE}{options.on_cluster} "
        "(version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
        f"ENGINE = {engine} ORDER BY version"
    )


def applied_versions(runner: CommandRunner, options: DDLOptions) -> set[int]:
    rows = runner.query_rows(f"SELECT version FROM {quote_ident(options.database)}.{MIGRATIONS_TABLE} FINAL")
    return {int(str(r[0])) for r in rows}


def apply_migrations(
    runner: CommandRunner, options: DDLOptions, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Create the database if needed and apply every migration not yet recorded. Returns versions applied."""
    runner.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(options.database)}{options.on_cluster}")
    runner.command(_migrations_table_ddl(options))
    done = applied_versions(runner, options)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements(options):
            runner.command(statement)
        runner.command(_record(migration, options))
        applied.append(migration.version)
    return applied


def _record(migration: Migration, options: DDLOptions) -> str:
    name = migration.name.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f"INSERT INTO {quote_ident(options.database)}.{MIGRATIONS_TABLE} (version, name) "
        f"VALUES ({int(migration.version)}, '{name}')"
    )


def check_migrations(
    runner: CommandRunner, options: DDLOptions, migrations: Sequence[Migration] = MIGRATIONS
) -> None:
    """Raise :class:`LedgerError` naming what is missing when the schema is behind (``--no-migrate``)."""
    try:
        done = applied_versions(runner, options)
    except Exception as exc:  # the table (or database) does not exist yet
        done = set()
        cause = f" ({str(exc).splitlines()[0][:200]})"
    else:
        cause = ""
    missing = [m for m in sorted(migrations, key=lambda m: m.version) if m.version not in done]
    if missing:
        names = ", ".join(f"{m.version} ({m.name})" for m in missing)
        raise LedgerError(
            f"the ledger schema in database {options.database!r} is behind: migration(s) {names} not applied"
            f"{cause}. Apply the script of `costtrail ledger-ddl` with an account that may run DDL, "
            "or start once without --no-migrate."
        )


def cluster_ddl(database: str, cluster: str, *, ttl_days: int | None = None) -> str:
    """The whole cluster schema as one script (``costtrail ledger-ddl``), for review or ops tools.

    Everything a collector started with ``--no-migrate`` needs: the database,
    the migrations log, every migration's statements and the rows that record
    them as applied.
    """
    options = DDLOptions(database=database, cluster=cluster, ttl_days=ttl_days)
    statements = [
        f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}{options.on_cluster}",
        _migrations_table_ddl(options),
    ]
    for migration in MIGRATIONS:
        statements.extend(migration.statements(options))
        statements.append(_record(migration, options))
    return ";\n\n".join(statements) + ";\n"
