"""The cluster tier: a ClickHouse ledger over a two-shard cluster (chdb, tests/clickhouse_cluster.xml).

Both shards of ``two`` are this one in-process node (chdb has no TCP port), so
sums over it count rows twice: these tests check that every report, run and
finance query *runs* on a sharded cluster, with every subquery over a
Distributed table spelled GLOBAL. The store contract
(tests/contract, the ``cluster`` store) checks the numbers on one local shard.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contract.ledger_samples import sample_cost_lines, sample_events, sample_outcomes
from typer.testing import CliRunner

from costtrail.auth import KeyRing, Scope
from costtrail.cli.main import app
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger import LedgerError, open_store
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.reports.views import view_names
from costtrail.schema import Event
from costtrail.settings import Settings

CONFIG = Path(__file__).resolve().parents[1] / "clickhouse_cluster.xml"
# A subquery that is not GLOBAL runs again on every shard over the Distributed table (refused
# by ClickHouse: DISTRIBUTED_IN_JOIN_SUBQUERY_DENIED).
LOCAL_IN_SUBQUERY = re.compile(r"(?<!GLOBAL )(?<!GLOBAL NOT )\b(NOT\s+)?IN\s*\(\s*SELECT\b", re.IGNORECASE)


def cluster_url(chdb_dir: Path, cluster: str = "two") -> str:
    return f"chdb://{chdb_dir}?database=c_{uuid.uuid4().hex[:10]}&cluster={cluster}&config={CONFIG}"


@pytest.fixture(scope="module")
def loaded(chdb_dir: Path) -> Iterator[str]:
    """A two-shard ledger with the contract sample, events with no latency, outcomes and bills."""
    url = cluster_url(chdb_dir)
    store = open_store(url)
    events = [
        *sample_events(),
        # A group whose events all lack latency: its distributed sum reaches a cast as NULL.
        *(Event(event_id=f"nl-{i}", provider="openai", model="gpt-4o", workflow="nolat") for i in range(3)),
    ]
    store.append_events(events)
    store.append_outcomes(sample_outcomes(events))
    store.append_cost_lines(sample_cost_lines())
    store.close()
    yield url


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL read the ClickHouse store runs while the test does."""
    seen: list[str] = []
    for name in ("query", "query_arrow"):
        original = getattr(ClickHouseStore, name)

        def recording(self: ClickHouseStore, sql: str, _original: Any = original) -> Any:
            seen.append(sql)
            return _original(self, sql)

        monkeypatch.setattr(ClickHouseStore, name, recording)
    return seen


COMMANDS = [
    *(["report", "--by", view] for view in view_names()),
    ["runs"],
    ["runs", "run-3"],
    ["report", "--by", "workflow", "--where", "tenant=acme", "--where", "workflow=support_reply"],
    ["report", "--by", "day", "--since", "2026-03-31"],
    ["reconcile", "--period", "2026-03"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c).replace("--", ""))
def test_every_report_runs_on_two_shards(loaded: str, statements: list[str], command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--ledger", loaded])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert statements, "the command read nothing"
    assert [s for s in statements if LOCAL_IN_SUBQUERY.search(s)] == []


def test_focus_export_runs_on_two_shards(loaded: str, statements: list[str], tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    result = CliRunner().invoke(
        app, ["export", "focus", "--period", "2026-03", "-o", str(out), "--ledger", loaded]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert len(out.read_text().splitlines()) > 1
    assert [s for s in statements if LOCAL_IN_SUBQUERY.search(s)] == []


def test_the_global_check_sees_a_local_subquery() -> None:
    assert LOCAL_IN_SUBQUERY.search("SELECT 1 FROM events WHERE run_id IN (SELECT run_id FROM events)")
    assert LOCAL_IN_SUBQUERY.search("WHERE k NOT IN ( select k FROM t)")
    assert not LOCAL_IN_SUBQUERY.search("WHERE run_id GLOBAL IN (SELECT run_id FROM events)")
    assert not LOCAL_IN_SUBQUERY.search("WHERE k GLOBAL NOT IN (SELECT k FROM t)")
    assert not LOCAL_IN_SUBQUERY.search("WHERE k IN ('a', 'b')")


def test_inserts_through_the_distributed_table_are_synchronous(loaded: str) -> None:
    store = open_store(loaded)
    try:
        setting = store.query("SELECT getSetting('distributed_foreground_insert') AS s")[0]["s"]
        again = store.append_events(sample_events()[:50])
    finally:
        store.close()
    assert int(setting) == 1
    assert (again.accepted, again.duplicates) == (0, 50)


def test_registry_tables_are_distributed_over_the_cluster(loaded: str) -> None:
    store = open_store(loaded)
    try:
        engines = {
            r["name"]: r["engine"]
            for r in store.query("SELECT name, engine FROM system.tables WHERE database = currentDatabase()")
        }
    finally:
        store.close()
    for table in ("events", "outcomes", "cost_lines", "alerts", "eval_results", "content"):
        assert engines[table] == "Distributed", table
        assert engines[f"{table}_local"].endswith("MergeTree"), table


def test_no_migrate_refuses_a_schema_that_is_behind(chdb_dir: Path) -> None:
    fresh = cluster_url(chdb_dir)
    with pytest.raises(
        LedgerError, match=r"behind: migration\(s\) 1 \(events, outcomes.*costtrail ledger-ddl"
    ):
        open_store(fresh, migrate=False)
    result = CliRunner().invoke(app, ["serve", "--no-migrate", "--ledger", fresh, "--port", "0"])
    assert result.exit_code == 1
    assert "costtrail ledger-ddl" in result.output
    open_store(fresh).close()  # applies the schema (what ledger-ddl's script does on a server)
    store = open_store(fresh, migrate=False)
    try:
        assert isinstance(store, ClickHouseStore) and store.migrations_applied == []
        assert store.append_events(sample_events()[:5]).accepted == 5
    finally:
        store.close()


def test_two_collectors_store_each_event_once(chdb_dir: Path, tmp_path: Path) -> None:
    """Two collector apps on one cluster ledger, sent overlapping batches at once: each id once."""
    url = cluster_url(chdb_dir, "one")
    stores = [open_store(url), open_store(url)]
    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    token = keys.create(Scope.INGEST).token
    events = [e.model_dump(mode="json", exclude_none=True) for e in sample_events(300, seed=11)]
    # Collector A gets events 0..199, collector B 100..299: 100 ids reach both, in both orders.
    batches = [(0, events[i : i + 50]) for i in range(0, 200, 50)]
    batches += [(1, events[i : i + 50]) for i in range(100, 300, 50)]
    with (
        BackgroundServer(create_app(Settings(ledger=url), stores[0], keys=keys)) as a,
        BackgroundServer(create_app(Settings(ledger=url), stores[1], keys=keys)) as b,
    ):
        urls = [a.url, b.url]

        def send(job: tuple[int, list[dict[str, Any]]]) -> int:
            which, batch = job
            response = httpx.post(
                f"{urls[which]}/v1/events",
                json=batch,
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            return response.status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(send, batches)) == {200}
    for store in stores:
        store.close()
    # Acknowledged means stored: a new store (another process, after a restart) reads them all.
    reader = open_store(url)
    try:
        rows = reader.query("SELECT count() AS n, uniqExact(event_uuid) AS ids FROM events")
    finally:
        reader.close()
    assert rows == [{"n": 300, "ids": 300}]
