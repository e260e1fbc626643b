"""ClickHouse-specific behaviour: URLs, migrations, engine-level dedup, DDL for clusters and retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costtrail.ledger import LedgerError, open_store
from costtrail.ledger.clickhouse_schema import DDLOptions, create_table, retention_statement
from costtrail.ledger.clickhouse_store import ClickHouseDialect, ClickHouseStore
from costtrail.ledger.clickhouse_url import parse_clickhouse_url
from costtrail.ledger.migrations import MIGRATIONS, Migration, apply_migrations, cluster_ddl
from costtrail.pricing import Pricer
from costtrail.schema import Event


@pytest.fixture
def ch(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore.from_url(f"chdb://{chdb_dir}?database=s_{uuid.uuid4().hex[:10]}")
    yield store
    store.command(f"DROP DATABASE IF EXISTS `{store.target.database}`")
    store.close()


def test_server_url_parses_and_hides_the_password() -> None:
    t = parse_clickhouse_url("clickhouse://alice:s%40cret@ch1.internal:8124/ledger?ttl_days=400&cluster=prod")
    assert (t.host, t.port, t.username, t.password, t.database) == (
        "ch1.internal",
        8124,
        "alice",
        "s@cret",
        "ledger",
    )
    assert (t.ttl_days, t.cluster, t.secure) == (400, "prod", False)
    assert "s@cret" not in t.display_url and "***" in t.display_url
    assert parse_clickhouse_url("clickhouses://h/db").port == 8443


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("clickhouse://h/db?ttl=3", "accepted: cluster, config, database, secure, ttl_days"),
        ("clickhouse://h/db?ttl_days=soon", "whole number of days"),
        ("clickhouse://h/db?ttl_days=0", "leave it out"),
    ],
)
def test_bad_url_options_say_what_to_do(url: str, fix: str) -> None:
    with pytest.raises(LedgerError, match=fix):
        parse_clickhouse_url(url)


def test_open_store_dispatches_chdb_urls(chdb_dir: Path) -> None:
    store = open_store(f"chdb://{chdb_dir}?database=via_open")
    try:
        assert isinstance(store, ClickHouseStore)
        assert store.append_events([Event(provider="openai", model="gpt-4o")]).accepted == 1
    finally:
        store.close()


def test_migrations_apply_once_and_new_ones_on_next_start(ch: ClickHouseStore) -> None:
    assert ch.migrations_applied == [m.version for m in MIGRATIONS]
    assert apply_migrations(ch, ch.options) == []
    extra = Migration(
        99,
        "add a column",
        lambda o: [f"ALTER TABLE `{o.database}`.events ADD COLUMN IF NOT EXISTS probe UInt8 DEFAULT 0"],
    )
    assert apply_migrations(ch, ch.options, [*MIGRATIONS, extra]) == [99]
    assert apply_migrations(ch, ch.options, [*MIGRATIONS, extra]) == []
    versions = ch.query("SELECT version FROM costtrail_migrations ORDER BY version")
    assert [r["version"] for r in versions] == [*(m.version for m in MIGRATIONS), 99]


def test_racing_duplicates_are_read_once(ch: ClickHouseStore) -> None:
    """Two collectors inserting one event at once both pass the key check; reads still see it once."""
    event = Event(provider="openai", model="gpt-4o", cost_usd="0.25", tenant_id="acme")
    ch.append_events([event])
    ch.command("INSERT INTO events SELECT * REPLACE (now64(6) AS ingested_at) FROM events")
    assert ch.query("SELECT count() AS n FROM events SETTINGS final = 0")[0]["n"] == 2
    assert ch.query(f"SELECT count() AS n, sum(cost_usd) AS c FROM {ch.dialect.final('events')}") == [
        {"n": 1, "c": event.cost_usd}
    ]
    ch.optimize()
    assert ch.query("SELECT count() AS n FROM events SETTINGS final = 0")[0]["n"] == 1


def test_table_layout(ch: ClickHouseStore) -> None:
    ddl = ch.query(
        "SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase()"
        " AND name = 'events'"
    )[0]["q"]
    assert "ReplacingMergeTree(ingested_at)" in ddl
    assert "PARTITION BY toDate(started_at)" in ddl
    assert "ORDER BY (tenant_id, toDate(started_at), workflow, event_uuid)" in ddl
    assert "`workflow` LowCardinality(Nullable(String))" in ddl
    assert "`cost_usd` Nullable(Decimal(18, 12))" in ddl
    assert "`event_uuid` UUID" in ddl


def test_retention_is_set_and_removed(ch: ClickHouseStore) -> None:
    ch.set_retention(30)
    q = "SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = '{}'"
    assert "TTL toDateTime(started_at) + toIntervalDay(30)" in ch.query(q.format("events"))[0]["q"]
    assert "TTL" not in ch.query(q.format("cost_lines"))[0]["q"]
    ch.set_retention(None)
    assert "TTL" not in ch.query(q.format("events"))[0]["q"]


def test_ttl_option_goes_into_the_create_statement() -> None:
    (ddl,) = create_table("outcomes", DDLOptions("db", ttl_days=90))
    assert "TTL toDateTime(recorded_at) + INTERVAL 90 DAY DELETE" in ddl
    assert retention_statement("cost_lines", DDLOptions("db", ttl_days=90)) is None


def test_cluster_ddl_is_valid_clickhouse_sql(ch: ClickHouseStore) -> None:
    script = cluster_ddl("costtrail", "prod", ttl_days=365)
    statements = [s.strip() for s in script.split(";\n") if s.strip()]
    assert any(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/costtrail/events_local'" in s
        for s in statements
    )
    assert any(
        "ENGINE = Distributed(`prod`, `costtrail`, events_local, cityHash64(ifNull(tenant_id, '')))" in s
        for s in statements
    )
    assert all("ON CLUSTER `prod`" in s for s in statements if s.startswith(("CREATE", "ALTER")))
    # Complete: the migrations log, every registry table, and the rows recording each migration.
    assert any("costtrail_migrations" in s and s.startswith("CREATE TABLE") for s in statements)
    for table in ("alerts", "eval_results", "content"):
        assert any(f"`costtrail`.{table}_local ON CLUSTER" in s for s in statements), table
        assert any(f"Distributed(`prod`, `costtrail`, {table}_local" in s for s in statements), table
    recorded = [s for s in statements if s.startswith("INSERT INTO `costtrail`.costtrail_migrations")]
    assert len(recorded) == len(MIGRATIONS)
    for statement in statements:  # the real parser accepts every statement
        formatted = ch.query(f"SELECT formatQuery({ch.dialect.literal(statement)}) AS f")[0]["f"]
        assert formatted.startswith(("CREATE", "INSERT", "ALTER"))


def test_registry_tables_come_from_migrations_and_take_statements(ch: ClickHouseStore) -> None:
    """alerts, eval_results and content are declared in ledger/tables.py and created by migration 3."""
    tables = {
        r["name"] for r in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    }
    assert {"alerts", "eval_results", "content", "costtrail_migrations"} <= tables
    ch.ensure_table("alerts")
    with pytest.raises(KeyError, match=r"declare it in ledger/tables\.py"):
        ch.ensure_table("not_declared")
    at = ch.dialect.literal(datetime(2026, 5, 1, 12, 30, tzinfo=UTC))
    ch.execute(
        "INSERT INTO alerts (alert_id, kind, dedup_key, severity, title, message, scope, evidence, "
        f"raised_at) VALUES ('a1', 'k', 'd', 'warning', 't', 'm', '{{}}', '{{}}', {at})"
    )
    rows = ch.query("SELECT alert_id, toTypeName(raised_at) AS t FROM alerts")
    assert rows == [{"alert_id": "a1", "t": "DateTime64(6, 'UTC')"}]
    assert ch.delete_rows("alerts", "alert_id = 'a1'") == 1
    assert ch.query("SELECT count() AS n FROM alerts")[0]["n"] == 0


def test_candidate_keys_narrow_final_reads_to_the_latest_versions(ch: ClickHouseStore) -> None:
    """``dialect.candidates``: keys any version matches, then FINAL keeps the newest (also GLOBAL IN)."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    events = [
        Event(
            event_id=f"e{i}",
            model="no-such-model",
            input_tokens=5,
            started_at=t0,
            tenant_id=None if i % 2 else "t",
        )
        for i in range(6)
    ]
    events.append(Event(event_id="p", model="gpt-4o-mini", input_tokens=5, started_at=t0))  # never unpriced
    ch.append_events(Pricer().apply(events))  # e*: unpriced, half with no tenant (NULL in the key)
    # A newer version of e0..e3 flips `unpriced` (what a reprice writes): e0, e1 priced now.
    ch.command(
        "INSERT INTO events SELECT * REPLACE (event_id IN ('e2', 'e3') AS unpriced, "
        "now64(6) + 1 AS ingested_at) FROM events WHERE event_id IN ('e0', 'e1', 'e2', 'e3')"
    )
    expected = {"e2", "e3", "e4", "e5"}
    for dialect in (ch.dialect, ClickHouseDialect(cluster=True)):
        narrow = dialect.candidates("events", "unpriced")
        assert ("GLOBAL IN" in narrow) is (dialect is not ch.dialect)
        # Alone, it keeps every event some version of which was unpriced, and only those.
        assert {r["event_id"] for r in ch.query(f"SELECT event_id FROM events WHERE {narrow}")} == {
            f"e{i}" for i in range(6)
        }
        rows = ch.query(f"SELECT event_id FROM events WHERE unpriced AND {narrow}")
        assert {r["event_id"] for r in rows} == expected
    assert {r["event_id"] for r in ch.query("SELECT event_id FROM events WHERE unpriced")} == expected
    with pytest.raises(ValueError, match="only"):
        ch.dialect.candidates("outcomes", "TRUE")


def test_one_append_and_one_reprice_can_span_many_days(ch: ClickHouseStore) -> None:
    """Events are partitioned by day; a backfill of 150 days is one batch (ClickHouse's default
    limit is 100 partitions per insert), and repricing it writes 150 days again."""
    from datetime import timedelta

    from costtrail.pricing.reprice import reprice

    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    events = [
        Event(provider="openai", model="gpt-4o-mini", input_tokens=1000, started_at=start + timedelta(days=d))
        for d in range(150)
    ]
    assert ch.append_events(events).accepted == 150
    assert reprice(ch, Pricer()).changed == 150
    [row] = ch.query("SELECT count() AS n, countIf(NOT unpriced) AS priced FROM events")
    assert (row["n"], row["priced"]) == (150, 150)
    days = ch.query(
        "SELECT count(DISTINCT partition) AS n FROM system.parts WHERE active AND table = 'events'"
        f" AND database = {ch.dialect.literal(ch.target.database)}"
    )
    assert days[0]["n"] == 150
