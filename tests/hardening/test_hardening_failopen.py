"""Fail-open and backpressure: the app and the gateway never wait on, or break with, the collector.

- collector down: the gateway keeps answering; its events wait in the spool and arrive once it is back;
- ledger failing (locked, disk full): the collector answers 503 and acknowledges nothing, the SDK
  keeps the batch and delivers it later; a second process on a locked ledger gets a clear error;
- slow collector: ``record()`` stays a queue append; a full queue drops (counted), never blocks.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pyarrow as pa
from tests.hardening.hardening_procs import COSTTRAIL, free_port
from tests.waiting import wait_until

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


def _flushed_until(flush: Callable[[float], bool], condition: Callable[[], bool]) -> bool:
    """Wait until ``condition`` holds, flushing the sink between looks."""

    def met() -> bool:
        if condition():
            return True
        flush(1)
        return False

    return wait_until(met, 30, interval=0.05)


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
            for _ in range(20):  # every call answered, the collector down all along
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
                )
                assert reply.choices[0].message.content
            assert sink.flush(10)
            # Each event reaches the sink just after its response is written: wait for the last one.
            assert _flushed_until(sink.flush, lambda: sink.stats()["spooled"] == 20)
            assert sink.stats()["spooled"] == 20 and sink.stats()["spool_files"] > 0
            settings = Settings(ledger=str(tmp_path / "ledger.duckdb"))
            with BackgroundServer(create_app(settings, store, keys=keys), port=port):
                assert _flushed_until(sink.flush, lambda: _count(store) == 20)
                assert _flushed_until(sink.flush, lambda: sink.stats()["spool_files"] == 0)
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

            answered = []

            def call() -> int:
                try:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}]
                    )
                except openai.APIStatusError as exc:
                    assert exc.status_code == 503 and "fail-closed" in exc.message
                    return 503
                answered.append(200)
                return 200

            assert call() == 200  # nothing known to be wrong yet
            # The event reaches the sink just after the response is written: wait until it is spooled.
            assert sink.flush(10)
            assert _flushed_until(sink.flush, lambda: sink.stats()["spool_files"] > 0)
            # The gateway notices the waiting spool within its own check interval; until then a call
            # still goes through (and makes its event, counted in ``answered``).
            wait_until(lambda: call() == 503, 10, interval=0.1)
            refused_at = len(fake.requests)
            assert call() == 503 and len(fake.requests) == refused_at  # refused before the provider
            settings = Settings(ledger=str(tmp_path / "ledger.duckdb"))
            with BackgroundServer(create_app(settings, store, keys=keys), port=port):
                assert _flushed_until(sink.flush, lambda: sink.stats()["spool_files"] == 0)
                wait_until(lambda: call() == 200, 10, interval=0.1)
                # The gateway hands the event to its sink just after the response: wait for it to land.
                assert _flushed_until(sink.flush, lambda: _count(store) >= len(answered))
                sink.close(10)
    # Every answered call made one event; the refused ones reached no provider and made none.
    assert _count(store) == len(answered) == len(fake.requests)
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
        assert _flushed_until(recorder.flush, lambda: _count(store) == 100)
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


def _held_collector(app: Any, release: threading.Event) -> Any:
    """The collector, except that every request waits until ``release`` is set."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await asyncio.to_thread(release.wait, 120)
        await app(scope, receive, send)

    return wrapped


def test_a_collector_that_never_answers_never_blocks_record(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"s" * 32)
    token = keys.create(Scope.INGEST).token
    release = threading.Event()
    app = _held_collector(create_app(Settings(ledger=str(tmp_path / "l")), store, keys=keys), release)
    with BackgroundServer(app) as server:
        settings = SdkSettings(
            endpoint=server.url,
            api_key=token,
            spool_dir=str(tmp_path / "spool"),
            max_queue=500,
            batch_size=100,
            flush_interval=0.05,
            request_timeout=60.0,  # longer than the test: a record() that waited would wait for release
        )
        recorder = Recorder(make_sink(settings))
        kept = sum(recorder.record("tool", tool_name="t") is not None for _ in range(3000))
        stats = recorder.stats()
        # All 3000 calls returned while the collector held every request: none was answered yet.
        assert _count(store) == 0
        release.set()
        recorder.close(30)  # while the collector is up: no writer thread outlives the test
    store.close()
    # The queue policy: drop when full (counted), never block.
    assert stats["dropped"] > 0 and kept + stats["dropped"] == 3000
