"""Stopping the collector commits what its event writer holds and stops the writer's thread."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "costtrail-group-commit" and t.is_alive()]


def test_server_stop_closes_the_event_writer(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    store = DuckDBStore(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    token = keys.create(Scope.INGEST).token
    app = create_app(Settings(ledger=str(ledger)), store, keys=keys)
    before = len(_writer_threads())
    with BackgroundServer(app) as server:
        events = [{"kind": "tool", "tool_name": "search", "event_id": f"e{i}"} for i in range(50)]
        answer = httpx.post(
            f"{server.url}/v1/events", json=events, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 50
        assert len(_writer_threads()) == before + 1
    assert len(_writer_threads()) == before
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 50
    with BackgroundServer(app) as server:  # the same app served again gets a new writer
        again = [{"kind": "tool", "tool_name": "search", "event_id": f"f{i}"} for i in range(5)]
        answer = httpx.post(
            f"{server.url}/v1/events", json=again, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 55
    store.close()
