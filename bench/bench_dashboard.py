"""Dashboard page server time on a big ledger (goal: < 500 ms a page at 1M events).

Builds a ledger of N synthetic events (default 1,000,000) through the store's
bulk Arrow append, with an outcome for every third run and a cost-per-outcome
target per outcome (``--targets``), serves the dashboard on 127.0.0.1, signs in
with a read key and times each page's server build (the ``Server-Timing``
header, which also counts the page's queries). Two baselines, run side by side:
the same pages on a 10k event ledger (the ratio shows how page time grows with
the ledger), and the same pages on the big ledger with each page's report calls
made one after another instead of concurrently.

    python -m bench.bench_dashboard [--events 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa

from costtrail.auth import KeyRing, Scope
from costtrail.ledger.columns import EVENT_COLUMNS, EVENT_SCHEMA
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings

WORKFLOWS = ["support_reply", "doc_extraction", "onboarding_assistant", "sales_email", "code_review"]
STEPS = ["retrieve", "draft", "check", "extract", "summarize", "plan"]
AGENTS = ["writer", "reviewer", "planner", "extractor"]
MODELS = [
    ("openai", "gpt-4o", 2.5, 10.0),
    ("openai", "gpt-4o-mini", 0.15, 0.6),
    ("anthropic", "claude-3-5-sonnet-20241022", 3.0, 15.0),
    ("anthropic", "claude-3-5-haiku-20241022", 0.8, 4.0),
]
FEATURES = ["helpdesk", "invoice_capture", "onboarding", "outreach", "devtools"]
TENANTS = ["acme", "globex", "initech", "umbrella", "hooli"]
REPEATS = 5


def synthetic_events(n: int, *, seed: int = 1, days: int = 60) -> pa.Table:
    """``n`` events in runs of ~4 steps over ``days`` days, priced with list-like rates (exact decimals)."""
    rng = np.random.default_rng(seed)
    end = datetime(2026, 11, 20, tzinfo=UTC)
    run = np.arange(n) // 4
    runs = int(run.max()) + 1
    run_start = rng.uniform(0, days * 86400.0, runs)
    offset = (np.arange(n) % 4) * 2.0 + rng.uniform(0, 1.5, n)
    seconds = run_start[run] + offset
    started = (end - timedelta(days=days)).replace(tzinfo=None)
    started_us = np.datetime64(started, "us") + (seconds * 1e6).astype("timedelta64[us]")
    wf = rng.integers(0, len(WORKFLOWS), runs)[run]
    customer = rng.integers(0, 500, runs)[run]
    model = rng.integers(0, len(MODELS), n)
    tokens_in = rng.integers(200, 8000, n)
    tokens_out = rng.integers(20, 1200, n)
    cached = np.where(rng.random(n) < 0.3, tokens_in // 2, 0)
    price_in = np.array([m[2] for m in MODELS])[model]
    price_out = np.array([m[3] for m in MODELS])[model]
    # integer pico-dollars, so the decimal column is exact
    pico = (tokens_in * price_in * 1e6).astype(np.int64) + (tokens_out * price_out * 1e6).astype(np.int64)
    status = np.where(rng.random(n) < 0.05, "failure", np.where(rng.random(n) < 0.08, "retry", "success"))
    latency = rng.gamma(2.0, 600.0, n)
    uuid_bytes = pa.py_buffer(rng.integers(0, 2**63, (n, 2), dtype=np.int64).tobytes())
    cols: dict[str, Any] = {
        "event_uuid": pa.Array.from_buffers(pa.binary(16), n, [None, uuid_bytes]),
        "kind": np.full(n, "llm", dtype=object),
        "schema_version": np.ones(n, dtype=np.int64),
        "started_at": started_us,
        "ended_at": started_us + (latency * 1e3).astype("timedelta64[us]"),
        "latency_ms": latency,
        "workflow": np.array(WORKFLOWS, dtype=object)[wf],
        "run_id": np.char.add(f"run-{seed}-", run.astype(str)).astype(object),
        "agent": np.array(AGENTS, dtype=object)[rng.integers(0, len(AGENTS), n)],
        "step": np.array(STEPS, dtype=object)[(np.arange(n) % 4 + wf) % len(STEPS)],
        "retry_count": (status == "retry").astype(np.int64),
        "status": status.astype(object),
        "tool_calls": rng.integers(0, 2, n),
        "provider": np.array([m[0] for m in MODELS], dtype=object)[model],
        "model": np.array([m[1] for m in MODELS], dtype=object)[model],
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cache_read_tokens": cached,
        "request_count": np.ones(n, dtype=np.int64),
        "payload_bytes": tokens_in * 4,
        "feature": np.array(FEATURES, dtype=object)[wf],
        "customer_id": np.char.add("cust-", customer.astype(str)).astype(object),
        "tenant_id": np.array(TENANTS, dtype=object)[customer % len(TENANTS)],
        "environment": np.where(rng.random(n) < 0.9, "production", "staging").astype(object),
        "cost_source": np.full(n, "computed", dtype=object),
        "unpriced": np.zeros(n, dtype=bool),
    }
    return _to_table(n, cols, pico)


def _to_table(n: int, cols: dict[str, Any], pico: np.ndarray) -> pa.Table:
    arrays = []
    for field in EVENT_SCHEMA:
        if field.name == "cost_usd":
            # pico-dollars are DECIMAL(18, 12)'s unscaled integers: build the 128-bit values directly
            words = np.zeros((n, 2), dtype=np.int64)
            words[:, 0] = pico
            buffer = pa.py_buffer(words.tobytes())
            arrays.append(pa.Array.from_buffers(field.type, n, [None, buffer]))
            continue
        value = cols.get(field.name)
        if value is None:
            column = next(c for c in EVENT_COLUMNS if c.name == field.name)
            filler = pa.nulls(n, field.type) if column.nullable else pa.array(np.zeros(n, dtype=np.int64))
            arrays.append(filler)
            continue
        arrays.append(value if isinstance(value, pa.Array) else pa.array(value, field.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


PAGES = ("/", "/workflows", "/workflows/support_reply", "/runs", "/customers", "/models", "/alerts")


def _add_outcomes(store: DuckDBStore) -> int:
    """An outcome for every third run (90% successful), named after its workflow: ``<workflow>_done``."""
    from costtrail.schema import Outcome

    rows = store.query(
        "SELECT run_id, any_value(workflow) AS workflow, max(ended_at) AS at FROM events "
        "GROUP BY run_id HAVING hash(run_id) % 3 = 0"
    )
    outcomes = [
        Outcome(
            run_id=r["run_id"],
            workflow=r["workflow"],
            outcome=f"{r['workflow']}_done",
            success=hash(r["run_id"]) % 10 != 0,
            recorded_at=r["at"].replace(tzinfo=UTC),
        )
        for r in rows
    ]
    store.append_outcomes(outcomes)
    return len(outcomes)


def _targets(folder: Path) -> Path:
    path = folder / "units.yaml"
    lines = ["units:", *(f'  {w}_done: {{target_usd: "0.05"}}' for w in WORKFLOWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _server_ms(response: httpx.Response) -> tuple[float, int]:
    timing = response.headers["server-timing"]
    return float(timing.split("dur=")[1].split(",")[0]), int(timing.split('desc="')[2].split(" queries")[0])


def _time_pages(
    store: DuckDBStore, ring: KeyRing, token: str, ledger: str, targets: Path
) -> dict[str, dict[str, float]]:
    """Median server time (ms, from Server-Timing) of each page: cold (page cache cleared before
    each request, so every report query runs), cold with the page's report calls made one after
    another, and warm (the ledger unchanged since the last view); and each cold page's queries."""
    from costtrail.collector import create_app
    from costtrail.collector.server import BackgroundServer

    app = create_app(Settings(ledger=ledger, targets=targets), store, keys=ring)
    dashboard = app.state.dashboard
    cold: dict[str, float] = {}
    serial: dict[str, float] = {}
    warm: dict[str, float] = {}
    queries: dict[str, float] = {}

    def timed(client: httpx.Client, path: str, *, clear: bool = False) -> float:
        if clear:
            dashboard.cache.clear()
        response = client.get(path)
        response.raise_for_status()
        ms, count = _server_ms(response)
        if clear:
            queries[name] = count
        return ms

    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        client.post("/login", data={"key": token, "next": "/"})
        run_id = client.get("/runs?download=runs").text.splitlines()[1].split(",")[0]
        for path in (*PAGES, f"/runs/{run_id}"):
            name = "/runs/{run_id}" if path.startswith("/runs/run-") else path
            concurrent, one_by_one = [], []
            for _ in range(REPEATS):  # interleaved, so both see the same machine load
                dashboard.concurrent_queries = True
                concurrent.append(timed(client, path, clear=True))
                dashboard.concurrent_queries = False
                one_by_one.append(timed(client, path, clear=True))
            dashboard.concurrent_queries = True
            cold[name], serial[name] = statistics.median(concurrent), statistics.median(one_by_one)
            warm[name] = statistics.median([timed(client, path) for _ in range(REPEATS)])
    return {"cold": cold, "serial": serial, "warm": warm, "queries": queries}


def _ledger(n: int, folder: Path) -> tuple[DuckDBStore, KeyRing, str]:
    path = folder / f"bench-{n}.duckdb"
    store = DuckDBStore(path)
    for start in range(0, n, 250_000):
        store.append_event_table(synthetic_events(min(250_000, n - start), seed=start + 1))
    _add_outcomes(store)
    store.checkpoint()
    ring = KeyRing(folder / f"keys-{n}.json", secret=b"bench-secret-0123456789abcdef")
    return store, ring, ring.create(Scope.READ).token


def main(events: int = 1_000_000, baseline: int = 10_000) -> dict[str, Any]:
    """Page server times on ``events`` vs ``baseline`` events; prints a table, returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[int, dict[str, dict[str, float]]] = {}
        for n in (baseline, events):
            started = time.perf_counter()
            store, ring, token = _ledger(n, Path(tmp))
            print(f"ledger of {n:,} events built in {time.perf_counter() - started:.1f} s", flush=True)
            results[n] = _time_pages(store, ring, token, store.url, _targets(Path(tmp)))
            store.close()
    small, big = results[baseline], results[events]
    head = [f"cold {baseline:,}", f"cold {events:,}", "ratio", "one by one", f"warm {events:,}", "queries"]
    print(
        f"\n{'page':26} {head[0]:>12} {head[1]:>16} {head[2]:>6} {head[3]:>13} {head[4]:>16} {head[5]:>7}"
        "  goal < 500 ms cold"
    )
    for page in big["cold"]:
        c_small, c_big, w_big = small["cold"][page], big["cold"][page], big["warm"][page]
        verdict = "cold ok" if c_big < 500 else ("warm ok" if w_big < 500 else "SLOW")
        serial, count = big["serial"][page], big["queries"][page]
        print(
            f"{page:26} {c_small:9.1f} ms {c_big:13.1f} ms {c_big / c_small:6.1f} {serial:10.1f} ms "
            f"{w_big:13.1f} ms {count:7.0f}  {verdict}"
        )
    return {"events": events, "baseline_events": baseline, "ms": big, "baseline_ms": small}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    main(args.events)
