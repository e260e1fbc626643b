"""Remote mode: batches to a collector over real HTTP, retries, the disk spool, replay, exactly once."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.demo.fake_provider import ServerThread
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import Recorder, SdkSettings, make_sink
from costtrail.settings import Settings


@dataclass
class TinyCollector:
    """Stores what it receives (deduplicated by event_id); can be told to fail."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    posts: list[tuple[str, int, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    always: int | None = None

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        records = json.loads(body)
        self.posts.append((request.url.path, len(records), request.headers.get("authorization", "")))
        status = self.fail_next.pop(0) if self.fail_next else self.always
        if status is not None:
            return JSONResponse({"error": {"message": "nope"}}, status_code=status)
        if request.url.path == "/v1/outcomes":
            self.outcomes.extend(records)
            return JSONResponse({"accepted": len(records), "duplicates": 0, "rejected": []})
        duplicates = sum(1 for r in records if r["event_id"] in self.events)
        self.events.update({r["event_id"]: r for r in records})
        return JSONResponse({"accepted": len(records) - duplicates, "duplicates": duplicates, "rejected": []})

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route(p, self.handle, methods=["POST"]) for p in ("/v1/events", "/v1/outcomes")]
        )


@pytest.fixture
def tiny() -> Iterator[tuple[TinyCollector, ServerThread]]:
    collector = TinyCollector()
    with ServerThread(collector.app()) as server:
        yield collector, server


def _recorder(url: str, spool: Path, **kw: Any) -> Recorder:
    settings = SdkSettings(
        endpoint=url,
        api_key="ct_test_key",
        spool_dir=str(spool),
        flush_interval=kw.pop("flush_interval", 0.05),
        replay_interval=kw.pop("replay_interval", 0.1),
        request_timeout=kw.pop("request_timeout", 2.0),
        **kw,
    )
    return Recorder(make_sink(settings), defaults={"environment": "test"})


def _spool_files(spool: Path) -> list[Path]:
    return [p for p in spool.rglob("*") if p.is_file()]


def test_batches_by_size_with_the_bearer_key(tiny, tmp_path) -> None:
    collector, server = tiny
    recorder = _recorder(server.base_url, tmp_path, batch_size=50, flush_interval=5.0)
    ids = [recorder.record("tool", tool_name="search") for _ in range(120)]
    assert recorder.outcome("run-1", "ticket_resolved", True)
    assert recorder.flush(10)
    recorder.close()
    assert set(collector.events) == set(ids)
    sizes = sorted(n for path, n, _ in collector.posts if path == "/v1/events")
    assert sizes == [20, 50, 50]
    assert {auth for _, _, auth in collector.posts} == {"Bearer ct_test_key"}
    assert collector.outcomes[0]["outcome"] == "ticket_resolved"
    assert recorder.stats()["sent"] == 120


def test_503_and_429_are_retried_with_backoff(tiny, tmp_path) -> None:
    collector, server = tiny
    collector.fail_next = [503, 429]
    recorder = _recorder(server.base_url, tmp_path)
    ids = {recorder.record("tool", tool_name="t") for _ in range(10)}
    assert recorder.flush(10)
    stats = recorder.stats()
    recorder.close()
    assert set(collector.events) == ids
    assert stats["retries"] == 2 and stats["spooled"] == 0


def test_a_bad_batch_is_dropped_not_retried_forever(tiny, tmp_path, caplog) -> None:
    collector, server = tiny
    collector.fail_next = [400]
    recorder = _recorder(server.base_url, tmp_path)
    with caplog.at_level(logging.ERROR, logger="costtrail.sdk"):
        recorder.record("tool", tool_name="t")
        assert recorder.flush(10)
    assert recorder.stats()["dropped_batches"] == 1
    recorder.record("tool", tool_name="t2")
    assert recorder.flush(10)
    recorder.close()
    assert len(collector.posts) == 2 and len(collector.events) == 1
    assert "rejected a batch" in caplog.text


def test_a_bad_key_is_logged_and_the_batch_kept_in_the_spool(tiny, tmp_path, caplog) -> None:
    collector, server = tiny
    collector.always = 401
    recorder = _recorder(server.base_url, tmp_path)
    with caplog.at_level(logging.ERROR, logger="costtrail.sdk"):
        event_id = recorder.record("tool", tool_name="t")
        assert recorder.flush(10)
    recorder.close(5)
    assert "refused the API key" in caplog.text and "ct_test_key" not in caplog.text
    assert len(_spool_files(tmp_path)) == 1
    collector.always = None
    replayer = _recorder(server.base_url, tmp_path)
    assert replayer.flush(10)
    replayer.close()
    assert list(collector.events) == [event_id]
    assert _spool_files(tmp_path) == []


def test_exit_within_timeout_spools_and_the_next_process_replays(tiny, tmp_path) -> None:
    collector, server = tiny
    server.stop()
    recorder = _recorder(server.base_url, tmp_path, request_timeout=0.5)
    ids = {recorder.record("tool", tool_name="t") for _ in range(30)}
    recorder.close(3)  # the collector is gone: what could not be sent within the timeout is spooled
    assert _spool_files(tmp_path)
    server.start()
    replayer = _recorder(server.base_url, tmp_path)
    assert replayer.flush(10)
    stats = replayer.stats()
    replayer.close()
    assert set(collector.events) == ids
    assert stats["replayed"] == 30 and _spool_files(tmp_path) == []


def test_real_collector_outage_every_event_arrives_exactly_once(tmp_path) -> None:
    ledger = tmp_path / "collector.duckdb"
    store = DuckDBStore(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    token = keys.create(Scope.INGEST).token
    server = ServerThread(create_app(Settings(ledger=str(ledger)), store, keys=keys)).start()
    try:
        settings = SdkSettings(
            endpoint=server.base_url,
            api_key=token,
            spool_dir=str(tmp_path / "spool"),
            batch_size=25,
            flush_interval=0.05,
            replay_interval=0.1,
            request_timeout=5.0,
            max_attempts=2,
        )
        recorder = Recorder(make_sink(settings))
        ids: list[str | None] = []
        for phase in ("up", "down", "up again"):
            if phase == "down":
                assert recorder.flush(10)
                server.stop()
            elif phase == "up again":
                server.start()
            with recorder.run("support_reply", customer_id=phase):
                for _ in range(100):
                    ids.append(recorder.record("tool", tool_name="search", query_count=1))
            if phase == "down":
                assert recorder.flush(10), "a flush while the collector is down spools, it does not hang"
                assert recorder.stats()["spooled"] > 0
        assert None not in ids
        assert recorder.flush(15)
        stats = recorder.stats()
        recorder.close()
        rows = store.query(
            "SELECT replace(CAST(event_uuid AS VARCHAR), '-', '') AS event_id, count(*) AS n "
            "FROM events GROUP BY event_uuid"
        )
        assert stats["replayed"] == stats["spooled"] > 0
        assert {r["event_id"] for r in rows} == set(ids)
        assert all(r["n"] == 1 for r in rows)
        assert len(rows) == 300
        assert not [p for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    finally:
        server.stop()
        store.close()
