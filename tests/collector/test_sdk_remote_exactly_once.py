"""SDK remote mode against a real collector: stop it mid-run, keep recording, restart: every event once."""

from __future__ import annotations

import time
from pathlib import Path

import openai
from tests.waiting import wait_until

import costtrail
from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.rows import restore_event_id
from costtrail.settings import Settings


def _count(store: DuckDBStore) -> tuple[int, int]:
    row = store.query("SELECT count(*) AS n, count(DISTINCT event_uuid) AS ids FROM events")[0]
    return int(row["n"]), int(row["ids"])


def test_collector_outage_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "central.duckdb"
    store = DuckDBStore(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"s" * 32)
    token = keys.create(Scope.INGEST).token

    def collector(port: int = 0) -> BackgroundServer:
        return BackgroundServer(create_app(Settings(ledger=str(ledger)), store, keys=keys), port=port).start()

    server = collector()
    settings = costtrail.SdkSettings(
        endpoint=server.url,
        api_key=token,
        spool_dir=str(tmp_path / "spool"),
        batch_size=25,
        flush_interval=0.05,
        request_timeout=1.0,
        max_attempts=2,
        replay_interval=0.2,
    )
    costtrail.configure(settings=settings)
    recorded: list[str] = []
    try:
        with FakeProvider() as fake:
            client = costtrail.instrument(openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test"))
            with costtrail.run("nightly_digest", customer_id="cust-1"):
                for i in range(60):
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    if i == 20:
                        assert costtrail.flush(10)
                        server.stop()  # the collector goes away mid-run
                    event_id = costtrail.record("tool", tool_name="search", started_at=time.time())
                    assert event_id is not None
                    recorded.append(event_id)
            assert costtrail.flush(15)  # written or spooled: the app never waits on the collector
            stored_during_outage = _count(store)[0]
            assert stored_during_outage < 120
            server = collector(server.port)  # back on the same address

            def all_stored() -> bool:
                costtrail.flush(1)
                return _count(store)[0] >= 120

            wait_until(all_stored, message=lambda: f"{_count(store)} of 120 events stored")
    finally:
        costtrail.shutdown(10)
        server.stop()
    n, distinct = _count(store)
    assert (n, distinct) == (120, 120)  # 60 model calls + 60 tool events, each exactly once
    rows = store.query("SELECT event_id, event_uuid FROM events WHERE kind = 'tool'")
    assert {restore_event_id(r["event_uuid"], r["event_id"]) for r in rows} == set(recorded)
    calls = store.query("SELECT count(*) AS n, sum(cost_usd) AS cost FROM events WHERE kind = 'llm'")[0]
    assert calls["n"] == 60 and calls["cost"] > 0
    assert store.query("SELECT count(DISTINCT run_id) AS n FROM events")[0]["n"] == 1
    store.close()
