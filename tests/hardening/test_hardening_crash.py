"""Crash durability: SDK exporters and a gateway stream into ``costtrail serve``, killed -9 and restarted.

At the end the ledger holds every recorded event exactly once, every spool is
empty and the stored total equals the sum sent, to the cent.

Size: ``COSTTRAIL_CRASH_EVENTS`` (default 10,000 SDK events) and
``COSTTRAIL_CRASH_KILLS`` (default 5); the issue's 100k run is
``COSTTRAIL_CRASH_EVENTS=100000 pytest tests/hardening/test_hardening_crash.py``.
``COSTTRAIL_CRASH_SEED`` replays one schedule of kills.
"""

from __future__ import annotations

import os
import random
import threading
import time
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from tests.hardening.hardening_procs import CollectorProcess
from tests.waiting import wait_until

import costtrail
from costtrail.auth import KeyRing, Scope
from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.rows import restore_event_id
from costtrail.sdk import Recorder, SdkSettings, make_sink
from costtrail.settings import Settings

EVENTS = int(os.environ.get("COSTTRAIL_CRASH_EVENTS", "10000"))
KILLS = int(os.environ.get("COSTTRAIL_CRASH_KILLS", "5"))
EXPORTERS = 3
CHUNK = 25


def _sdk_settings(url: str, token: str, spool: Path) -> SdkSettings:
    return SdkSettings(
        endpoint=url,
        api_key=token,
        spool_dir=str(spool),
        batch_size=250,
        flush_interval=0.05,
        request_timeout=2.0,
        max_attempts=2,
        replay_interval=0.1,
        max_queue=200_000,
    )


class Producer(threading.Thread):
    """Records ``count`` tool events with a reported cost, a chunk at a time, remembering what it sent."""

    def __init__(self, name: str, record: object, count: int, seed: int) -> None:
        super().__init__(name=name, daemon=True)
        self.record = record
        self.count = count
        self.rng = random.Random(seed)
        self.sent: dict[str, Decimal] = {}
        self.refused = 0

    def run(self) -> None:
        record = self.record
        assert callable(record)
        done = 0
        while done < self.count:
            for _ in range(min(CHUNK, self.count - done)):
                cost = Decimal(self.rng.randrange(1, 2_000_000)) / Decimal(10**8)  # up to $0.02, 8 places
                event_id = record("tool", tool_name="search", cost_usd=cost, customer_id=self.name)
                if event_id is None:
                    self.refused += 1
                else:
                    self.sent[event_id] = cost
                done += 1
            time.sleep(0.01)


def test_kill_9_collector_loses_and_duplicates_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    seed = int(os.environ.get("COSTTRAIL_CRASH_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    ledger = tmp_path / "central.duckdb"
    token = KeyRing.for_ledger(str(ledger)).create(Scope.INGEST, label="crash test").token
    collector = CollectorProcess(ledger, tmp_path / "collector.log").start()
    request.addfinalizer(collector.stop)  # however the test ends, no collector outlives it

    recorders = [
        Recorder(make_sink(_sdk_settings(collector.url, token, tmp_path / f"spool-{i}")))
        for i in range(EXPORTERS - 1)
    ]
    # One exporter is the process-wide SDK, configured the way an app does it.
    costtrail.configure(settings=_sdk_settings(collector.url, token, tmp_path / "spool-global"))
    producers = [
        Producer(f"sdk-{i}", r.record, EVENTS // EXPORTERS, seed + i) for i, r in enumerate(recorders)
    ]
    producers.append(Producer("sdk-global", costtrail.record, EVENTS - sum(p.count for p in producers), seed))

    gateway_sink = make_sink(_sdk_settings(collector.url, token, tmp_path / "spool-gateway"))
    gateway_costs: list[Decimal] = []
    stop_gateway = threading.Event()
    with FakeProvider() as fake:
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url})
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=gateway_sink)
        with BackgroundServer(app) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test-gateway", max_retries=0)

            def gateway_traffic() -> None:
                while not stop_gateway.is_set():
                    raw = client.chat.completions.with_raw_response.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
                    )
                    gateway_costs.append(Decimal(raw.headers["x-costtrail-cost"]))
                    time.sleep(0.02)

            gateway_thread = threading.Thread(target=gateway_traffic, daemon=True)
            gateway_thread.start()
            for p in producers:
                p.start()
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.3, 1.5))
                collector.kill9()
                time.sleep(rng.uniform(0.0, 0.4))
                collector.start()
            for p in producers:
                p.join(timeout=600)
            stop_gateway.set()
            gateway_thread.join(timeout=30)

        sinks = [r.flush for r in recorders] + [costtrail.flush, gateway_sink.flush]

        def all_delivered() -> bool:
            flushed = [flush(5) for flush in sinks]
            stats = [r.stats() for r in recorders] + [costtrail.stats(), gateway_sink.stats()]
            return all(flushed) and all(s["spool_files"] == 0 for s in stats)

        # Generous: on a loaded machine the replays after each kill take long; a loss never empties.
        wait_until(all_delivered, 300, interval=0, message=f"every spool emptied (seed {seed})")
        stats = [r.stats() for r in recorders] + [costtrail.stats(), gateway_sink.stats()]
        for r in recorders:
            r.close(30)
        costtrail.shutdown(30)
        gateway_sink.close(30)
    # A last kill -9 right after the final acknowledgements: acknowledged means on disk.
    collector.kill9()

    assert all(s["spool_files"] == 0 for s in stats), (seed, stats)
    for s in stats:
        assert s["dropped"] == 0 and s["spool_full"] == 0 and s["rejected"] == 0, (seed, s)
    assert collector.starts == KILLS + 1

    sent: dict[str, Decimal] = {}
    for p in producers:
        assert p.refused == 0, (seed, p.name)
        sent.update(p.sent)
    assert len(sent) == EVENTS

    store = DuckDBStore(ledger)
    try:
        rows = store.query(
            "SELECT event_uuid, event_id, cost_usd FROM events "
            "WHERE kind = 'tool' AND cost_source = 'reported'"
        )
        stored_ids = [restore_event_id(r["event_uuid"], r["event_id"]) for r in rows]
        assert len(stored_ids) == len(set(stored_ids)), f"seed {seed}: duplicates in the ledger"
        assert set(stored_ids) == set(sent), f"seed {seed}: {len(set(sent) - set(stored_ids))} events lost"
        assert sum(r["cost_usd"] for r in rows) == sum(sent.values())
        by_id = {i: r["cost_usd"] for i, r in zip(stored_ids, rows, strict=True)}
        assert all(by_id[i] == c for i, c in sent.items())

        llm = store.query(
            "SELECT count(*) AS n, count(DISTINCT event_uuid) AS ids, sum(cost_usd) AS cost "
            "FROM events WHERE kind = 'llm'"
        )[0]
        assert llm["n"] == llm["ids"] == len(gateway_costs) > 0, (seed, llm, len(gateway_costs))
        assert llm["cost"] == sum(gateway_costs)
    finally:
        store.close()
