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

from costtrail.ledger.clickhouse_schema import DDLOptions, create_table, quote_ident, run_index_statements

MIGRATIONS_TABLE = "costtrail_migrations"


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


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events, outcomes and cost_lines tables", _v1_tables),
    Migration(2, "run index (one row per run) filled by a materialized view", run_index_statements),
)


def _migrations_table_ddl(options: DDLOptions) -> str:
    db = quote_ident(options.database)
    if options.cluster:
        engine = (
            f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{options.database}/"
            f"{MIGRATIONS_TABLE}', '{{replica}}')"
        )
    else:
        engine = "ReplacingMergeTree"
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
        name = migration.name.replace("\\", "\\\\").replace("'", "\\'")
        runner.command(
            f"INSERT INTO {quote_ident(options.database)}.{MIGRATIONS_TABLE} (version, name) "
            f"VALUES ({int(migration.version)}, '{name}')"
        )
        applied.append(migration.version)
    return applied
