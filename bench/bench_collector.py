"""Collector ingest throughput with a durable acknowledgement, against the same work in process.

Measures, in one run, on fresh DuckDB files:
- baseline: validating, pricing and appending the same JSON batches in process
  (``collector.intake.accept_events``: no HTTP, no auth);
- the collector: ``costtrail serve`` as its own process, ``POST /v1/events`` with JSON batches
  of 500 from several client threads, each answer received only after the batch committed.
The ledger is counted afterwards: every acknowledged event must be there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from costtrail.auth import ApiKey, KeyRing, Scope
from costtrail.collector.intake import accept_events
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer

EVENTS = 100_000
BATCH = 500
CLIENTS = 4
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022", "claude-haiku-4-5")
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def make_batches(events: int = EVENTS, batch: int = BATCH) -> list[bytes]:
    """JSON bodies of realistic events with unique ids (a run of 5 steps each)."""
    bodies = []
    for b in range(events // batch):
        records: list[dict[str, Any]] = []
        for i in range(batch):
            n = b * batch + i
            model = MODELS[n % len(MODELS)]
            records.append(
                {
                    "event_id": uuid.uuid4().hex,
                    "started_at": (T0 + timedelta(milliseconds=n * 37)).isoformat(),
                    "provider": "anthropic" if model.startswith("claude") else "openai",
                    "model": model,
                    "input_tokens": 500 + n % 3000,
                    "output_tokens": 50 + n % 400,
                    "cache_read_tokens": (n % 5) * 100,
                    "workflow": f"wf{n % 7}",
                    "run_id": f"run-{n // 5}",
                    "step": f"s{n % 5}",
                    "customer_id": f"cust-{n % 300}",
                    "tenant_id": f"t{n % 20}",
                    "environment": "prod",
                    "latency_ms": 200 + n % 900,
                }
            )
        bodies.append(json.dumps(records).encode())
    return bodies


def in_process(bodies: list[bytes], folder: Path) -> float:
    store = DuckDBStore(folder / "inproc.duckdb")
    key = ApiKey(key_id="bench", scope=Scope.INGEST)
    pricer = Pricer()
    start = time.perf_counter()
    for body in bodies:
        result = accept_events(json.loads(body), key, store, pricer)
        assert result.accepted == BATCH, result.as_dict()
    elapsed = time.perf_counter() - start
    store.close()
    return len(bodies) * BATCH / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def over_http(bodies: list[bytes], folder: Path) -> tuple[float, float, int]:
    ledger = folder / "collector.duckdb"
    env = {**os.environ, "COSTTRAIL_KEY_SECRET": uuid.uuid4().hex}
    os.environ["COSTTRAIL_KEY_SECRET"] = env["COSTTRAIL_KEY_SECRET"]
    token = KeyRing.for_ledger(str(ledger)).create(Scope.INGEST).token
    port = _free_port()
    exe = str(Path(sys.executable).with_name("costtrail"))
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--ledger", str(ledger)], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url)
        latencies: list[float] = []

        def send(chunk: list[bytes]) -> None:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                for body in chunk:
                    t = time.perf_counter()
                    r = http.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
                    latencies.append(time.perf_counter() - t)
                    assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text[:300]

        chunks = [bodies[i::CLIENTS] for i in range(CLIENTS)]
        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, chunks))
        elapsed = time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    store = DuckDBStore(ledger, read_only=True)
    stored = int(store.query("SELECT count(*) AS n FROM events")[0]["n"])
    store.close()
    latencies.sort()
    return len(bodies) * BATCH / elapsed, latencies[len(latencies) // 2] * 1000, stored


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the collector did not start")


def main() -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    bodies = make_batches(EVENTS, BATCH)
    baseline = in_process(bodies, folder)
    rate, p50_ms, stored = over_http(bodies, folder)
    total = len(bodies) * BATCH
    assert stored == total, f"{stored} stored of {total} acknowledged"
    figures = {
        "events": float(total),
        "batch": float(BATCH),
        "clients": float(CLIENTS),
        "in_process_events_per_s": baseline,
        "collector_events_per_s": rate,
        "collector_vs_in_process": rate / baseline,
        "batch_ack_p50_ms": p50_ms,
    }
    print(f"events {total:,} in batches of {BATCH}, {CLIENTS} client threads; all {stored:,} in the ledger")
    print(f"{'path':<48}{'events/s':>12}")
    print(f"{'baseline: accept_events in process':<48}{baseline:>12,.0f}")
    print(f"{'collector: POST /v1/events, durable ack':<48}{rate:>12,.0f}  ({rate / baseline:.2f}x)")
    print(f"batch acknowledgement p50: {p50_ms:.1f} ms")
    return figures


if __name__ == "__main__":
    main()
