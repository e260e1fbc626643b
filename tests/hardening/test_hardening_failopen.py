"""Fail-open and backpressure: the app and the gateway never wait on, or break with, the collector.

- collector down: the gateway keeps answering; its events wait in the spool and arrive once it is back;
- ledger failing (locked, disk full): the collector answers 503 and acknowledges nothing, the SDK
  keeps the batch and delivers it later; a second process on a locked ledger gets a clear error;
- slow collector: ``record()`` stays a queue append; a full queue drops (counted), never blocks.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pyarrow as pa
from hardening_procs import COSTTRAIL, free_port

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import AppendResult
from costtrail.schema import Event
from costtrail.sdk import Recorder, SdkSettings, make_sink
from costtrail.settings import Settings


def _count(store: DuckDBStore) -> int:
    return int(store.query("SELECT count(DISTINCT event_uuid) AS n FROM events")[0]["n"])


def _wait(condition: Any, timeout: float = 30.0, poll: Any = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if poll is not None:
            poll()
        time.sleep(0.05)
    return bool(condition())


def test_gateway_serves_while_the_collector_is_down_and_replays_after(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keys = KeyRing(tmp_path / "keys.json", secret=b"g" * 32)
    token = keys.create(Scope.INGEST).token
    sink = make_sink(
        SdkSettings(
            endpoint=url,
            api_key=token,
            spool_dir=str(tmp_path / "spool"),
            flush_interval=0.05,
            request_timeout=0.5,
            max_attempts=1,
            replay_interval=0.1,
        )
    )
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    with FakeProvider() as fake:
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url})
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink)
        with BackgroundServer(app) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test", max_retries=0)
            slowest = 0.0
            for _ in range(20):
                started = time.perf_counter()
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
                )
                slowest = max(slowest, time.perf_counter() - started)
                assert reply.choices[0].message.content
            assert slowest < 2.0  # never waits for the missing collector (its timeout is 0.5 s)
            assert sink.flush(10)
            # Each event reaches the sink just after its response is written: wait for the last one.
            assert _wait(lambda: sink.stats()["spooled"] == 20, poll=lambda: sink.flush(1))
            assert sink.stats()["spooled"] == 20 and sink.stats()["spool_files"] > 0
            settings = Settings(ledger=str(tmp_path / "ledger.duckdb"))
            with BackgroundServer(create_app(settings, store, keys=keys), port=port):
                assert _wait(lambda: _count(store) == 20, poll=lambda: sink.flush(1))
                assert _wait(lambda: sink.stats()["spool_files"] == 0, poll=lambda: sink.flush(1))
                sink.close(10)  # while the collector is up: no writer thread outlives the test
    assert _count(store) == 20
    store.close()


def test_fail_closed_gateway_refuses_while_events_cannot_be_shipped(tmp_path: Path) -> None:
    port = free_port()
    keys = KeyRing(tmp_path / "keys.json", secret=b"c" * 32)
    token = keys.create(Scope.INGEST).token
    sink = make_sink(
        SdkSettings(
            endpoint=f"http://127.0.0.1:{port}",
            api_key=token,
            spool_dir=str(tmp_path / "spool"),
            flush_interval=0.05,
            request_timeout=0.5,
            max_attempts=1,
            replay_interval=0.1,
        )
    )
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    with FakeProvider() as fake:
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url}, fail_closed=True)
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink)
        with BackgroundServer(app) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test", max_retries=0)

            def call() -> int:
                try:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}]
                    )
                except openai.APIStatusError as exc:
                    assert exc.status_code == 503 and "fail-closed" in exc.message
                    return 503
                return 200

            assert call() == 200  # nothing known to be wrong yet
            # The event reaches the sink just after the response is written: wait until it is spooled.
            assert sink.flush(10)
            assert _wait(lambda: sink.stats()["spool_files"] > 0, poll=lambda: sink.flush(1))
            time.sleep(1.1)  # the gateway looks at its sink once a second
            assert call() == 503
            settings = Settings(ledger=str(tmp_path / "ledger.duckdb"))
            with BackgroundServer(create_app(settings, store, keys=keys), port=port):
                assert _wait(lambda: sink.stats()["spool_files"] == 0, poll=lambda: sink.flush(1))
                time.sleep(1.1)
                assert call() == 200
                # The gateway hands the event to its sink just after the response: wait for it to land.
                assert _wait(lambda: _count(store) >= 2, poll=lambda: sink.flush(1))
                sink.close(10)
    assert _count(store) == 2  # the refused call reached no provider and made no event
    store.close()


class FlakyStore(DuckDBStore):
    """A real DuckDB ledger whose appends fail (as on a full disk) while ``failing`` is set."""

    failing = False

    def append_events(self, events: Sequence[Event]) -> AppendResult:
        if self.failing:
            raise OSError(28, "No space left on device")
        return super().append_events(events)

    def append_event_table(self, table: pa.Table) -> AppendResult:
        if self.failing:
            raise OSError(28, "No space left on device")
        return super().append_event_table(table)


def test_failing_ledger_is_503_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"f" * 32)
    token = keys.create(Scope.INGEST).token
    app = create_app(Settings(ledger=str(tmp_path / "ledger.duckdb")), store, keys=keys)
    with BackgroundServer(app) as server:
        store.failing = True
        answer = httpx.post(
            server.url + "/v1/events",
            json=[{"kind": "tool", "tool_name": "t"}],
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "ledger_unavailable"
        assert "No space left on device" in answer.json()["error"]["message"]
        assert answer.headers["Retry-After"] == "1"

        settings = SdkSettings(
            endpoint=server.url,
            api_key=token,
            spool_dir=str(tmp_path / "spool"),
            flush_interval=0.05,
            max_attempts=2,
            replay_interval=0.1,
        )
        recorder = Recorder(make_sink(settings))
        ids = {recorder.record("tool", tool_name="t", cost_usd=Decimal("0.01")) for _ in range(100)}
        assert recorder.flush(10)
        assert recorder.stats()["sent"] == 0 and _count(store) == 0
        store.failing = False
        assert _wait(lambda: _count(store) == 100, poll=lambda: recorder.flush(1))
        recorder.close(10)
    assert None not in ids and _count(store) == 100
    assert store.query("SELECT sum(cost_usd) AS c FROM events")[0]["c"] == Decimal("1")
    store.close()


def test_second_process_on_a_locked_ledger_gets_a_clear_error(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    with DuckDBStore(ledger):
        done = subprocess.run(
            [COSTTRAIL, "serve", "--ledger", str(ledger), "--port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "open for writing in another process" in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]


def _slow_collector(app: Any, delay: dict[str, float]) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await asyncio.sleep(delay["seconds"])
        await app(scope, receive, send)

    return wrapped


def test_slow_collector_never_slows_record(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"s" * 32)
    token = keys.create(Scope.INGEST).token
    delay = {"seconds": 2.0}
    app = _slow_collector(create_app(Settings(ledger=str(tmp_path / "l")), store, keys=keys), delay)
    with BackgroundServer(app) as server:
        settings = SdkSettings(
            endpoint=server.url,
            api_key=token,
            spool_dir=str(tmp_path / "spool"),
            max_queue=500,
            batch_size=100,
            flush_interval=0.05,
            request_timeout=5.0,
        )
        recorder = Recorder(make_sink(settings))
        latencies = []
        kept = 0
        for _ in range(3000):
            started = time.perf_counter()
            if recorder.record("tool", tool_name="t") is not None:
                kept += 1
            latencies.append(time.perf_counter() - started)
        stats = recorder.stats()
        delay["seconds"] = 0.0
        recorder.close(30)  # while the collector is up: no writer thread outlives the test
    store.close()
    latencies.sort()
    # The collector takes 2 s per batch; record() never waits for it (the queue policy: drop when full).
    assert latencies[-1] < 0.5, latencies[-10:]
    assert sum(latencies) < 3.0
    assert stats["dropped"] > 0 and kept + stats["dropped"] == 3000
