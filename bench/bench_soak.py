"""Soak: the gateway at a steady load for 10 minutes; memory flat, no descriptor leak, no errors.

``costtrail gateway`` and ``costtrail serve`` run as child processes (as a user
runs them), the gateway in front of the fake provider (OpenAI wire format,
in this process) and shipping its events to the collector. Client threads
send chat completions (a quarter of them streamed) at a fixed rate. Every
few seconds the gateway's and the collector's RSS and open file descriptors
are sampled. The baseline is the sample at the end of the warm-up (the first
10% of the run, at least 10 s): RSS growth and descriptor growth are measured
against it, side by side in the same run. At the end the gateway is stopped
(SIGTERM: it flushes) and the ledger must hold one event per successful call.

Goals: gateway RSS growth < 10%, no descriptor growth, error rate 0.

    python -m bench.bench_soak [--duration 600] [--rps 40] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from costtrail.auth import KeyRing, Scope
from costtrail.demo.fake_provider import FakeProvider

COSTTRAIL = str(Path(sys.executable).with_name("costtrail"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(args: list[str], log: Path, health: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[1]} exited: {log.read_text()}")
        try:
            if httpx.get(health, timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{args[1]} did not start: {log.read_text()}")


class Load:
    """Client threads sending calls at ``rps`` in total; counts answers and latencies."""

    def __init__(self, url: str, rps: float, clients: int) -> None:
        self.url, self.interval, self.clients = url, clients / rps, clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []

    def _one(self, client: httpx.Client, n: int) -> None:
        body: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": f"question {n}: how do I reset my password?"}],
        }
        started = time.perf_counter()
        try:
            if n % 4 == 0:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
                with client.stream("POST", "/v1/chat/completions", json=body) as response:
                    for _ in response.iter_bytes():
                        pass
                    status = response.status_code
            else:
                status = client.post("/v1/chat/completions", json=body).status_code
        except httpx.HTTPError as exc:
            status, error = 0, type(exc).__name__
        else:
            error = f"http_{status}"
        elapsed = time.perf_counter() - started
        with self.lock:
            if status == 200:
                self.ok += 1
                self.latencies.append(elapsed)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1

    def _client_loop(self, index: int) -> None:
        headers = {"Authorization": "Bearer sk-soak-test"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            n = index
            next_at = time.monotonic() + index * self.interval / self.clients
            while not self.stop.is_set():
                self._one(client, n)
                n += self.clients
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def run(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._client_loop, args=(i,), daemon=True) for i in range(self.clients)
        ]
        for t in threads:
            t.start()
        return threads


def _sample(proc: psutil.Process) -> tuple[float, int]:
    return proc.memory_info().rss / 2**20, proc.num_fds()


def _figures(samples: list[tuple[float, float, int]], baseline_index: int) -> dict[str, float]:
    base_rss, base_fds = samples[baseline_index][1], samples[baseline_index][2]
    tail = samples[-max(1, len(samples) // 10) :]  # the last 10% of samples, against noise
    end_rss = statistics.median(s[1] for s in tail)
    return {
        "rss_baseline_mib": round(base_rss, 1),
        "rss_end_mib": round(end_rss, 1),
        "rss_peak_mib": round(max(s[1] for s in samples), 1),
        "rss_growth": round((end_rss - base_rss) / base_rss, 4),
        "fds_baseline": base_fds,
        "fds_end": samples[-1][2],
        "fds_peak": max(s[2] for s in samples),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("COSTTRAIL_SOAK_SECONDS", 600))
    )
    parser.add_argument("--rps", type=float, default=40.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample-every", type=float, default=5.0)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="costtrail-soak-"))
    ledger = tmp / "soak.duckdb"
    ring = KeyRing.for_ledger(str(ledger))
    ingest = ring.create(Scope.INGEST, label="soak gateway").token
    admin = ring.create(Scope.ADMIN, label="soak reader").token
    cport, gport = _free_port(), _free_port()
    collector_url, gateway_url = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{gport}"
    collector = _spawn(
        [COSTTRAIL, "serve", "--ledger", str(ledger), "--port", str(cport)],
        tmp / "collector.log",
        collector_url + "/healthz",
    )
    with FakeProvider() as fake:
        gateway = _spawn(
            [
                COSTTRAIL,
                "gateway",
                "--port",
                str(gport),
                "--upstream",
                f"openai={fake.openai_base_url}",
                "--collector",
                collector_url,
                "--api-key",
                ingest,
                "--spool-dir",
                str(tmp / "spool"),
            ],
            tmp / "gateway.log",
            gateway_url + "/healthz",
        )
        gproc, cproc = psutil.Process(gateway.pid), psutil.Process(collector.pid)
        load = Load(gateway_url, args.rps, args.clients)
        warmup = max(10.0, args.duration / 10)
        started = time.monotonic()
        threads = load.run()
        gsamples: list[tuple[float, float, int]] = []
        csamples: list[tuple[float, float, int]] = []
        baseline_index = 0
        while (elapsed := time.monotonic() - started) < args.duration:
            gsamples.append((elapsed, *_sample(gproc)))
            csamples.append((elapsed, *_sample(cproc)))
            if elapsed < warmup:
                baseline_index = len(gsamples) - 1
            time.sleep(min(args.sample_every, max(0.1, args.duration - elapsed)))
        load.stop.set()
        for t in threads:
            t.join(timeout=60)
        gsamples.append((time.monotonic() - started, *_sample(gproc)))
        csamples.append((time.monotonic() - started, *_sample(cproc)))
        gateway.terminate()
        gateway.wait(timeout=60)
    stored = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = httpx.get(
            collector_url + "/v1/report",
            params={"by": "provider", "metrics": "events", "since": "1d"},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        ).json()["rows"]
        stored = sum(int(r["events"]) for r in rows)
        if stored >= load.ok:
            break
        time.sleep(1)
    collector.terminate()
    collector.wait(timeout=60)

    calls = load.ok + sum(load.errors.values())
    gateway_figures = _figures(gsamples, baseline_index)
    collector_figures = _figures(csamples, baseline_index)
    latencies = sorted(load.latencies)
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    figures: dict[str, Any] = {
        "duration_s": round(args.duration, 1),
        "calls": calls,
        "achieved_rps": round(calls / args.duration, 1),
        "error_rate": round(sum(load.errors.values()) / calls, 6) if calls else 1.0,
        "errors": dict(load.errors),
        "events_stored": stored,
        "events_missing": load.ok - stored,
        "latency_p50_ms": round(p50, 2),
        "latency_p99_ms": round(p99, 2),
        "gateway_rss_growth": {
            "value": gateway_figures["rss_growth"],
            "unit": "ratio",
            "baseline": gateway_figures["rss_baseline_mib"],
            "ratio": round(gateway_figures["rss_end_mib"] / gateway_figures["rss_baseline_mib"], 4),
            "goal": "< 0.10",
        },
        "gateway": gateway_figures,
        "collector": collector_figures,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    figures["ok"] = (
        gateway_figures["rss_growth"] < 0.10
        and gateway_figures["fds_end"] <= gateway_figures["fds_baseline"] + 2
        and figures["error_rate"] == 0
        and figures["events_missing"] == 0
    )
    for key, value in figures.items():
        print(f"{key:22} {value}")
    return figures


if __name__ == "__main__":
    main()
