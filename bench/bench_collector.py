"""Collector ingest throughput with a durable acknowledgement, and SDK -> collector -> store end to end.

Measured in one run, each figure the median of ``BENCH_RUNS`` runs (default 5) on fresh ledgers:

1. The collector: ``costtrail serve`` as its own process on a DuckDB file, ``POST /v1/events``
   with JSON batches of 500 from ``CLIENTS`` client threads; each answer arrives only after the
   batch committed, with the collector's default worker processes (``COLLECTOR_WORKERS=N``
   sets ``--workers N``); its CPU time counts the workers too. Compared, in the same run, with
   the same collector in one process (``--workers 0``), with the same collector that finds a
   re-sent id only in the batch's started_at range (``--id-memory-hours 0``: the check before an
   id was remembered whatever started_at a re-send carries), and, same batches, in process (no
   HTTP, no auth):
   - ``accept_events`` (the collector's own path: columnar validation, bulk pricing, one append
     per batch);
   - the per-record path it replaced (``Event`` per record, a per-event, per-field copy into
     Arrow, one append per batch), to show what the columnar path changed.
2. SDK -> collector -> store: ``APPS`` processes using the real SDK in remote mode
   (``costtrail.configure(endpoint=..., api_key=...)``) record events and flush; the collector
   (``costtrail serve``) writes a DuckDB file, then a ClickHouse ledger (``chdb://``, the real
   engine in-process). Baseline: the same events validated, priced and appended by that store in
   process (``accept_events`` in batches of 500).

Afterwards every ledger is counted: every acknowledged event must be there, exactly once.

    EVENTS=50000 BENCH_RUNS=5 python -m bench.bench_collector
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from costtrail.auth import ApiKey, KeyRing, Scope
from costtrail.collector.intake import accept_events
from costtrail.ledger.columns import EVENT_COLUMNS, EVENT_SCHEMA
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.open import open_store
from costtrail.ledger.rows import event_uuid
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.schema import Event, validate_many

EVENTS = int(os.environ.get("EVENTS", "50000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
BATCH = 500
CLIENTS = 8
APPS = 2
WARM_UP = 4  # batches sent before the clock starts (not counted in the rate)
GOAL = 50_000
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022", "claude-haiku-4-5")
T0 = datetime(2026, 5, 1, tzinfo=UTC)
KEY_SECRET_ENV = "COSTTRAIL_KEY_SECRET"
# COLLECTOR_WORKERS=N runs ``costtrail serve --workers N``; unset, the collector's own default.
WORKERS_ARGS = ("--workers", os.environ["COLLECTOR_WORKERS"]) if os.environ.get("COLLECTOR_WORKERS") else ()
RANGE_ONLY = ("--id-memory-hours", "0")


def make_records(events: int = EVENTS) -> list[dict[str, Any]]:
    """Realistic events with unique ids (a run of 5 steps each)."""
    records: list[dict[str, Any]] = []
    for n in range(events):
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
    return records


def make_batches(events: int = EVENTS, batch: int = BATCH) -> list[bytes]:
    """JSON bodies of ``batch`` events each."""
    records = make_records(events - events % batch)
    return [json.dumps(records[i : i + batch]).encode() for i in range(0, len(records), batch)]


# -- in process ------------------------------------------------------------------------------


def in_process(bodies: Sequence[bytes], store: LedgerStore) -> float:
    """The collector's path without HTTP: ``accept_events`` per batch (JSON decoding included)."""
    key = ApiKey(key_id="bench", scope=Scope.INGEST)
    pricer = Pricer()
    start = time.perf_counter()
    for body in bodies:
        result = accept_events(json.loads(body), key, store, pricer)
        assert not result.problems and result.accepted + result.duplicates == BATCH, result.as_dict()
    return len(bodies) * BATCH / (time.perf_counter() - start)


def per_event_table(events: list[Event]) -> pa.Table:
    """The conversion the collector used before the columnar path: every field of every event."""
    cols: dict[str, list[Any]] = {c.name: [] for c in EVENT_COLUMNS}
    for e in events:
        d = e.__dict__
        key = event_uuid(e.event_id)
        for c in EVENT_COLUMNS:
            name = c.name
            if name == "event_uuid":
                cols[name].append(key.bytes)
            elif name == "event_id":
                cols[name].append(None if e.event_id == key.hex else e.event_id)
            elif name in ("started_at", "ended_at"):
                v = d[name]
                cols[name].append(None if v is None else v.astimezone(UTC).replace(tzinfo=None))
            elif name == "attributes":
                cols[name].append(json.dumps(d[name], sort_keys=True) if d[name] else None)
            elif name == "cost_usd":
                v = d[name]
                cols[name].append(None if v is None else v.quantize(Decimal("1e-12")))
            else:
                v = d[name]
                cols[name].append(v.value if hasattr(v, "value") else v)
    return pa.Table.from_pydict(cols, schema=EVENT_SCHEMA)


def per_record(bodies: Sequence[bytes], store: LedgerStore) -> float:
    """The path before: one ``Event`` per record, a per-field copy into Arrow, one append per batch."""
    pricer = Pricer()
    start = time.perf_counter()
    for body in bodies:
        events, problems = validate_many(Event, json.loads(body))
        assert not problems
        store.append_event_table(pricer.price_table(per_event_table(events)))
    return len(bodies) * BATCH / (time.perf_counter() - start)


# -- a collector process -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``costtrail serve --ledger <url>`` in its own process, with an ingest key."""

    def __init__(self, ledger: str, serve_args: Sequence[str] = WORKERS_ARGS) -> None:
        self.ledger = ledger
        self.serve_args = tuple(serve_args)
        secret = uuid.uuid4().hex
        self._env = {**os.environ, KEY_SECRET_ENV: secret}
        previous = os.environ.get(KEY_SECRET_ENV)
        os.environ[KEY_SECRET_ENV] = secret
        try:
            self.token = KeyRing.for_ledger(ledger).create(Scope.INGEST).token
        finally:
            if previous is None:
                os.environ.pop(KEY_SECRET_ENV, None)
            else:
                os.environ[KEY_SECRET_ENV] = previous
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> Served:
        exe = str(Path(sys.executable).with_name("costtrail"))
        self._proc = subprocess.Popen(
            [exe, "serve", "--port", str(self.port), "--ledger", self.ledger, *self.serve_args],
            env=self._env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the collector did not start")

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(120)


def _stored(ledger: str) -> int:
    store = DuckDBStore(ledger, read_only=True) if "://" not in ledger else open_store(ledger)
    try:
        return int(store.query("SELECT count(*) AS n FROM events")[0]["n"])
    finally:
        store.close()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its children (its worker processes), None if unknown."""
    try:
        import psutil

        owner = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [owner, *owner.children(recursive=True)])
    except (ImportError, OSError):
        return None


def over_http(
    bodies: Sequence[bytes], ledger: Path, serve_args: Sequence[str] = WORKERS_ARGS
) -> tuple[float, float, float | None]:
    """Events/s through ``POST /v1/events`` with a durable ack, the batch ack p50 (ms), and the
    collector's CPU time per event (us, all its threads and worker processes)."""
    latencies: list[float] = []
    warm_up = make_batches(WARM_UP * BATCH, BATCH)
    with Served(str(ledger), serve_args) as served:
        # A few batches first: the first requests pay one-time imports (pyarrow loads pandas).
        for body in warm_up:
            r = httpx.post(
                served.url + "/v1/events",
                content=body,
                headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"},
                timeout=120,
            )
            assert r.status_code == 200, r.text[:300]

        def send(chunk: Sequence[bytes]) -> None:
            headers = {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"}
            with httpx.Client(base_url=served.url, headers=headers, timeout=120) as http:
                for body in chunk:
                    t = time.perf_counter()
                    r = http.post("/v1/events", content=body)
                    latencies.append(time.perf_counter() - t)
                    assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text[:300]

        chunks = [bodies[i::CLIENTS] for i in range(CLIENTS)]
        cpu_before = _cpu_seconds(served.pid)
        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, chunks))
        elapsed = time.perf_counter() - start
        cpu_after = _cpu_seconds(served.pid)
    total = len(bodies) * BATCH
    stored = _stored(str(ledger))
    assert stored == total + len(warm_up) * BATCH, f"{stored} stored of {total} (+ warm-up) acknowledged"
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / total * 1e6
    return total / elapsed, statistics.median(latencies) * 1000, cpu


# -- SDK -> collector -> store ------------------------------------------------------------------


def sdk_app(endpoint: str, token: str, first: int, count: int, spool: str) -> None:
    """One app process: the real SDK in remote mode records ``count`` events, then flushes."""
    import costtrail
    from costtrail.sdk.config import SdkSettings

    costtrail.configure(
        # A queue that holds every event: record() never blocks, it drops when full (counted).
        settings=SdkSettings(
            endpoint=endpoint, api_key=token, spool_dir=spool, shutdown_timeout=300, max_queue=count + 1
        )
    )
    records = make_records(count)
    for i, record in enumerate(records):
        del record["event_id"]  # the SDK makes its own ids
        record["run_id"] = f"app-run-{(first + i) // 5}"
    start = time.time()  # wall clock: compared across processes
    for record in records:
        costtrail.record("llm", **record)
    assert costtrail.flush(timeout=600), "the SDK did not flush in time"
    end = time.time()
    stats = costtrail.stats()
    costtrail.shutdown(timeout=60)
    print(json.dumps({"stats": stats, "start": start, "end": end}), flush=True)


def sdk_end_to_end(ledger: str, events: int) -> float:
    """Events/s from the first ``record()`` to the last acknowledged batch, over ``APPS`` processes
    (their start-up and imports not counted)."""
    per_app = events // APPS
    warm_up = make_batches(WARM_UP * BATCH, BATCH)
    with Served(ledger) as served, tempfile.TemporaryDirectory(prefix="bench-sdk-spool-") as spool:
        for body in warm_up:
            httpx.post(
                served.url + "/v1/events",
                content=body,
                headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"},
                timeout=120,
            ).raise_for_status()
        code = (
            "import sys; from bench.bench_collector import sdk_app; "
            "sdk_app(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])"
        )
        here = Path(__file__).resolve().parent.parent
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    code,
                    served.url,
                    served.token,
                    str(a * per_app),
                    str(per_app),
                    f"{spool}/app{a}",
                ],
                cwd=here,
                stdout=subprocess.PIPE,
                text=True,
            )
            for a in range(APPS)
        ]
        outputs = [p.communicate(timeout=1800)[0] for p in procs]
        reports = []
        for p, out in zip(procs, outputs, strict=True):
            assert p.returncode == 0, out
            reports.append(json.loads(out.strip().splitlines()[-1]))
            stats = reports[-1]["stats"]
            assert stats.get("dropped", 0) == 0 and stats.get("spooled", 0) == 0, stats
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    stored = _stored(ledger)
    expected = per_app * APPS + len(warm_up) * BATCH
    assert stored == expected, f"{stored} stored of {expected} recorded (warm-up included)"
    return per_app * APPS / elapsed


# -- the run ----------------------------------------------------------------------------------


def _median(runs: int, measure: Callable[[int], float]) -> float:
    return statistics.median(measure(r) for r in range(runs))


def _figure(
    value: float, unit: str, runs: int, baseline: float | None = None, goal: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "unit": unit, "runs": runs}
    if baseline is not None:
        out["baseline"] = baseline
        out["ratio"] = value / baseline
    if goal is not None:
        out["goal"] = goal
    return out


def main() -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    bodies = make_batches(EVENTS, BATCH)
    total = len(bodies) * BATCH

    def fresh(name: str, r: int) -> DuckDBStore:
        return DuckDBStore(folder / f"{name}-{r}.duckdb")

    def run_store(name: str, r: int, work: Callable[[Sequence[bytes], LedgerStore], float]) -> float:
        store = fresh(name, r)
        try:
            return work(bodies, store)
        finally:
            store.close()

    before = _median(RUNS, lambda r: run_store("per-record", r, per_record))
    inproc = _median(RUNS, lambda r: run_store("inproc", r, in_process))
    # Each run of the collector beside one of the same collector that recognizes a re-send only
    # by its original started_at (``--id-memory-hours 0``, the check before ids were remembered
    # whatever their started_at): interleaved, so load from other work falls on both alike.
    http_runs, by_range_only = [], []
    for r in range(RUNS):
        http_runs.append(over_http(bodies, folder / f"collector-{r}.duckdb"))
        by_range_only.append(
            over_http(bodies, folder / f"range-only-{r}.duckdb", (*WORKERS_ARGS, *RANGE_ONLY))
        )
    rate = statistics.median(x[0] for x in http_runs)
    p50 = statistics.median(x[1] for x in http_runs)
    cpus = [x[2] for x in http_runs if x[2] is not None]
    one_process = [over_http(bodies, folder / f"one-{r}.duckdb", ("--workers", "0")) for r in range(RUNS)]

    sdk_duck = _median(RUNS, lambda r: sdk_end_to_end(str(folder / f"sdk-{r}.duckdb"), total))
    chdb_ok = True
    try:
        import chdb  # noqa: F401
    except ImportError:
        chdb_ok = False
    figures: dict[str, Any] = {
        "events per run": float(total),
        "collector events/s (DuckDB, batches of 500, durable ack)": _figure(
            rate, "events/s", RUNS, inproc, f">= {GOAL:,}: {'met' if rate >= GOAL else 'not met'}"
        ),
        "collector batch ack p50": _figure(p50, "ms", RUNS),
        "collector, ids remembered 24 h whatever started_at vs by started_at only": _figure(
            rate, "events/s", RUNS, statistics.median(x[0] for x in by_range_only), "ratio >= 0.90"
        ),
        "collector vs the same collector in one process (--workers 0)": _figure(
            rate, "events/s", RUNS, statistics.median(x[0] for x in one_process)
        ),
        **(
            {
                "collector CPU per event (all threads and workers)": _figure(
                    statistics.median(cpus), "us", len(cpus)
                )
            }
            if cpus
            else {}
        ),
        "in-process accept_events (columnar) vs per-record path": _figure(inproc, "events/s", RUNS, before),
        "SDK -> collector -> DuckDB events/s": _figure(
            sdk_duck, "events/s", RUNS, _median(RUNS, lambda r: run_store("sdk-base", r, in_process))
        ),
    }
    if chdb_ok:

        def chdb_base(r: int) -> float:
            store = open_store(f"chdb://{folder}/chbase-{r}?database=base{r}")
            try:
                return in_process(bodies, store)
            finally:
                store.close()

        sdk_ch = _median(RUNS, lambda r: sdk_end_to_end(f"chdb://{folder}/ch-{r}?database=sdk{r}", total))
        figures["SDK -> collector -> ClickHouse (chdb) events/s"] = _figure(
            sdk_ch, "events/s", RUNS, _median(RUNS, chdb_base)
        )

    figures["load average (1 min) before / after"] = f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
    print(f"events {total:,} per run in batches of {BATCH}; median of {RUNS} runs; every ledger counted")
    print("collector runs (events/s):", ", ".join(f"{x[0]:,.0f}" for x in http_runs))
    print("started_at-only runs (events/s):", ", ".join(f"{x[0]:,.0f}" for x in by_range_only))
    print("one-process runs (events/s):", ", ".join(f"{x[0]:,.0f}" for x in one_process))
    for name, fig in figures.items():
        if isinstance(fig, dict):
            extra = f"  baseline {fig['baseline']:,.0f} ({fig['ratio']:.2f}x)" if "baseline" in fig else ""
            print(f"{name:<62}{fig['value']:>12,.1f} {fig['unit']}{extra}  {fig.get('goal', '')}")
        else:
            print(f"{name:<62}{fig:>12}")
    return figures


if __name__ == "__main__":
    main()
