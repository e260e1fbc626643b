"""Retries and duplicates: re-sent after a timeout, partial batches, out-of-order delivery: stored once."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.waiting import wait_until

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import Recorder, SdkSettings, make_sink
from costtrail.settings import Settings

BASE = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Served:
    url: str
    store: DuckDBStore
    token: str
    slow: dict[str, float]

    def post(self, path: str, body: Any, timeout: float = 10.0) -> httpx.Response:
        return httpx.post(
            self.url + path, json=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout
        )

    def count(self, table: str = "events") -> tuple[int, int]:
        key = {"events": "event_uuid", "outcomes": "outcome_id", "cost_lines": "line_id"}[table]
        row = self.store.query(f"SELECT count(*) AS n, count(DISTINCT {key}) AS ids FROM {table}")[0]
        return int(row["n"]), int(row["ids"])


def _slow_after_commit(app: Any, slow: dict[str, float]) -> Any:
    """Delay the response (not the work): the batch is committed, the client times out waiting."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def late_send(message: Any) -> None:
            if message["type"] == "http.response.start" and slow.get("remaining", 0) > 0:
                slow["remaining"] -= 1
                await asyncio.sleep(slow["delay"])
            await send(message)

        await app(scope, receive, late_send)

    return wrapped


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"k" * 32)
    token = keys.create(Scope.ADMIN).token
    slow: dict[str, float] = {"remaining": 0, "delay": 0.0}
    app = _slow_after_commit(create_app(Settings(ledger=str(tmp_path / "l")), store, keys=keys), slow)
    with BackgroundServer(app) as server:
        yield Served(server.url, store, token, slow)
    store.close()


def _events(n: int, *, prefix: str = "ev", spread_days: int = 30) -> list[dict[str, Any]]:
    rng = random.Random(n)
    return [
        {
            "event_id": f"{prefix}-{i:06d}",
            "kind": "tool",
            "tool_name": "search",
            "started_at": (BASE + timedelta(minutes=rng.randrange(spread_days * 1440))).isoformat(),
            "cost_usd": str(Decimal(rng.randrange(1, 10**6)) / 10**8),
        }
        for i in range(n)
    ]


def _total(events: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(e["cost_usd"]) for e in events), Decimal(0))


def test_same_batch_twice_is_stored_once(served: Served) -> None:
    batch = _events(200)
    first = served.post("/v1/events", batch).json()
    again = served.post("/v1/events", batch).json()
    assert (first["accepted"], first["duplicates"]) == (200, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 200)
    assert served.count() == (200, 200)
    assert served.store.query("SELECT sum(cost_usd) AS c FROM events")[0]["c"] == _total(batch)


def test_resent_after_a_lost_response_is_stored_once(served: Served) -> None:
    batch = _events(300)
    body = json.dumps(batch).encode()
    host, port = served.url.removeprefix("http://").split(":")
    # The client sends the batch and gives up before the answer: the collector still commits it.
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {served.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    wait_until(lambda: served.count()[0] >= 300, 10)
    # The retry of the whole batch finds every event already there.
    again = served.post("/v1/events", batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 300)
    assert served.count() == (300, 300)


def test_http_timeout_then_retry_is_stored_once(served: Served) -> None:
    batch = _events(50)
    served.slow.update(remaining=1, delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        served.post("/v1/events", batch, timeout=0.3)
    assert served.post("/v1/events", batch).json()["duplicates"] == 50
    assert served.count() == (50, 50)


def test_sdk_retry_after_a_timeout_stores_once(served: Served, tmp_path: Path) -> None:
    # The first two answers come after the SDK's timeout: it retries or spools, then replays.
    served.slow.update(remaining=2, delay=1.0)
    settings = SdkSettings(
        endpoint=served.url,
        api_key=served.token,
        spool_dir=str(tmp_path / "spool"),
        batch_size=40,
        flush_interval=0.05,
        request_timeout=0.3,
        max_attempts=2,
        replay_interval=0.1,
    )
    recorder = Recorder(make_sink(settings))
    sent = {recorder.record("tool", tool_name="t", cost_usd=Decimal("0.001")) for _ in range(200)}

    def delivered() -> bool:
        recorder.flush(2)
        return served.count()[0] >= 200 and recorder.stats()["spool_files"] == 0

    wait_until(delivered, 30)
    stats = recorder.stats()
    recorder.close(10)
    assert None not in sent and len(sent) == 200
    assert served.count() == (200, 200)
    assert stats["duplicates"] >= 40  # at least the batch whose answer came late was sent again
    assert served.store.query("SELECT sum(cost_usd) AS c FROM events")[0]["c"] == Decimal("0.2")


def test_partial_batches_then_the_whole_batch(served: Served) -> None:
    batch = _events(10)
    broken = [dict(e) for e in batch]
    broken[3]["cost_usd"] = "-1"
    broken[7]["started_at"] = "yesterday-ish"
    first = served.post("/v1/events", broken).json()
    assert first["accepted"] == 8
    assert [(r["index"], r["field"]) for r in first["rejected"]] == [(3, "cost_usd"), (7, "started_at")]
    fixed = served.post("/v1/events", batch).json()
    assert (fixed["accepted"], fixed["duplicates"]) == (2, 8)
    assert served.count() == (10, 10)


def test_overlapping_and_out_of_order_batches(served: Served) -> None:
    events = _events(1000, spread_days=90)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    # Overlapping windows, newest window first, each batch in random time order.
    windows = [shuffled[i : i + 150] for i in range(0, 1000, 100)]
    for batch in reversed(windows):
        served.post("/v1/events", batch).raise_for_status()
    # A straggler batch mixing the oldest and the newest events, twice, in one request.
    oldest_newest = sorted(events, key=lambda e: e["started_at"])
    straggler = oldest_newest[:20] + oldest_newest[-20:]
    answer = served.post("/v1/events", straggler + straggler).json()
    assert answer["accepted"] == 0 and answer["duplicates"] == 80
    assert served.count() == (1000, 1000)
    assert served.store.query("SELECT sum(cost_usd) AS c FROM events")[0]["c"] == _total(events)


def test_duplicate_ids_inside_one_batch(served: Served) -> None:
    batch = _events(5)
    answer = served.post("/v1/events", batch + batch[::-1]).json()
    assert (answer["accepted"], answer["duplicates"]) == (5, 5)
    assert served.count() == (5, 5)


def test_outcomes_and_cost_lines_resent_are_stored_once(served: Served) -> None:
    outcomes = [
        {
            "run_id": f"run-{i}",
            "workflow": "w",
            "outcome": "resolved",
            "success": True,
            "outcome_id": f"o-{i}",
        }
        for i in range(30)
    ]
    assert served.post("/v1/outcomes", outcomes).json()["accepted"] == 30
    assert served.post("/v1/outcomes", outcomes[::-1]).json()["duplicates"] == 30
    assert served.count("outcomes") == (30, 30)
    lines = [
        {
            "source": "invoice",
            "charge_period_start": "2026-03-01",
            "charge_period_end": "2026-03-02",
            "billed_cost": "12.34",
            "service_name": f"svc-{i}",
        }
        for i in range(10)
    ]
    first = served.post("/v1/cost-lines", lines).json()
    assert first["accepted"] == 10, first
    assert served.post("/v1/cost-lines", lines).json()["duplicates"] == 10
    assert served.count("cost_lines") == (10, 10)
