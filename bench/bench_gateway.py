"""Gateway overhead: added latency and throughput against direct-to-upstream and LiteLLM's proxy.

All in one run, against the same fake OpenAI upstream (its own process on 127.0.0.1):
- direct: the client calls the upstream;
- costtrail: ``costtrail gateway`` (one process, recording to a local ledger) in front of it;
- LiteLLM: ``litellm --num_workers 1`` (installed by this script into bench/.work/litellm-venv,
  run with LITELLM_LOCAL_MODEL_COST_MAP=True) routed to the same upstream.
Sequential latency interleaves the three targets request by request, so load on the machine
hits them alike; added latency is each target's percentile minus direct's. Throughput runs 50
concurrent requests against each target in turn. Afterwards the gateway's ledger is counted:
every call it served must be recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

WORK = Path(__file__).resolve().parent / ".work"
LITELLM_VENV = WORK / "litellm-venv"
SEQUENTIAL = 600
WARMUP = 50
CONCURRENCY = 50
CONCURRENT_REQUESTS = 3000
MODEL = "gpt-4o-mini"
BODY = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "Where is my order #42?"}], "max_tokens": 30}
).encode()
# One token for every target: the fake upstream takes any key, LiteLLM's proxy needs its master key.
MASTER_KEY = "sk-bench-" + "5f" * 32
HEADERS = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            r = httpx.post(url, content=BODY, headers=HEADERS, timeout=5)
            if r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer")


def install_litellm() -> tuple[Path | None, str]:
    """The LiteLLM proxy in its own venv (``pip install 'litellm[proxy]'``); None and why if it fails."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe, "already installed"
    WORK.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(LITELLM_VENV)],
        [str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "litellm[proxy]"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1200, check=False)
        if done.returncode != 0:
            return None, f"{' '.join(step)} failed: {done.stderr.strip()[-500:]}"
    return exe, "installed"


def start_litellm(exe: Path, upstream: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    config = folder / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def sequential(targets: dict[str, str]) -> dict[str, list[float]]:
    """Per-request latency (ms), the targets interleaved request by request."""
    clients = {name: httpx.Client(base_url=url, headers=HEADERS, timeout=30) for name, url in targets.items()}
    samples: dict[str, list[float]] = {name: [] for name in targets}
    try:
        for i in range(WARMUP + SEQUENTIAL):
            for name, client in clients.items():
                start = time.perf_counter()
                r = client.post("/v1/chat/completions", content=BODY)
                elapsed = (time.perf_counter() - start) * 1000
                assert r.status_code == 200, r.text[:300]
                if i >= WARMUP:
                    samples[name].append(elapsed)
    finally:
        for client in clients.values():
            client.close()
    return samples


async def _throughput(url: str) -> tuple[float, int]:
    """Requests per second with CONCURRENCY in flight, and how many failed (counted, not retried)."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    failures = 0
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60, limits=limits) as client:
        remaining = CONCURRENT_REQUESTS

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                try:
                    r = await client.post("/v1/chat/completions", content=BODY)
                    failures += r.status_code != 200
                except httpx.HTTPError:
                    failures += 1

        await asyncio.gather(*(client.post("/v1/chat/completions", content=BODY) for _ in range(CONCURRENCY)))
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return (CONCURRENT_REQUESTS - failures) / (time.perf_counter() - start), failures


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    procs: list[subprocess.Popen[bytes]] = []
    bin_dir = Path(sys.executable).parent
    try:
        fake_port, gw_port = _free_port(), _free_port()
        upstream = f"http://127.0.0.1:{fake_port}"
        fake = subprocess.Popen(
            [sys.executable, "-m", "costtrail.demo.fake_provider", "--port", str(fake_port)],
            stdout=subprocess.DEVNULL,
        )
        procs.append(fake)
        ledger = folder / "gateway.duckdb"
        command = [str(bin_dir / "costtrail"), "gateway", "--port", str(gw_port)]
        command += ["--upstream", f"openai={upstream}", "--ledger", str(ledger)]
        gateway = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
        )
        procs.append(gateway)
        targets = {"direct": upstream, "costtrail": f"http://127.0.0.1:{gw_port}"}
        _wait(upstream + "/v1/chat/completions", fake)
        _wait(targets["costtrail"] + "/v1/chat/completions", gateway)
        exe, litellm_note = install_litellm()
        if exe is not None:
            litellm, litellm_url = start_litellm(exe, upstream, folder)
            procs.append(litellm)
            try:
                _wait(litellm_url + "/v1/chat/completions", litellm, timeout=300)
                targets["litellm"] = litellm_url
            except RuntimeError as exc:
                litellm_note = f"LiteLLM proxy did not start: {exc}"
        samples = sequential(targets)
        measured = {name: asyncio.run(_throughput(url)) for name, url in targets.items()}
        rates = {name: rate for name, (rate, _) in measured.items()}
        failures = {name: failed for name, (_, failed) in measured.items()}
        gateway.send_signal(signal.SIGINT)
        gateway.wait(60)
        from costtrail.ledger.duckdb_store import DuckDBStore

        store = DuckDBStore(ledger, read_only=True)
        recorded = int(store.query("SELECT count(*) AS n FROM events")[0]["n"])
        store.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return report(samples, rates, failures, recorded, litellm_note)


def report(
    samples: dict[str, list[float]],
    rates: dict[str, float],
    failures: dict[str, int],
    recorded: int,
    litellm_note: str,
) -> dict[str, Any]:
    base50, base99 = _pct(samples["direct"], 0.5), _pct(samples["direct"], 0.99)
    figures: dict[str, Any] = {"litellm": litellm_note, "gateway_events_recorded": recorded}
    print(
        f"sequential: {SEQUENTIAL} requests each, interleaved; "
        f"concurrent: {CONCURRENCY} at a time, {CONCURRENT_REQUESTS} requests"
    )
    print(
        f"{'target':<12}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}"
        f"{'req/s @50':>11}{'failed':>8}"
    )
    for name, values in samples.items():
        p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
        figures[f"{name}_p50_ms"], figures[f"{name}_p99_ms"] = p50, p99
        figures[f"{name}_added_p50_ms"], figures[f"{name}_added_p99_ms"] = p50 - base50, p99 - base99
        figures[f"{name}_rps"], figures[f"{name}_failed"] = rates[name], failures[name]
        print(
            f"{name:<12}{p50:>9.2f}{p99:>9.2f}{p50 - base50:>11.2f}{p99 - base99:>11.2f}{rates[name]:>11.0f}"
        )
    paired = [g - d for g, d in zip(samples["costtrail"], samples["direct"], strict=True)]
    figures["costtrail_paired_added_median_ms"] = statistics.median(paired)
    if "litellm" in samples:
        figures["added_p50_vs_litellm"] = figures["litellm_added_p50_ms"] / max(
            figures["costtrail_added_p50_ms"], 1e-3
        )
        figures["rps_vs_litellm"] = rates["costtrail"] / rates["litellm"]
        print(
            f"costtrail vs LiteLLM: added p50 {figures['added_p50_vs_litellm']:.1f}x lower, "
            f"throughput {figures['rps_vs_litellm']:.1f}x higher"
        )
    else:
        print(f"LiteLLM not measured: {litellm_note}")
    print(f"paired added latency, median: {figures['costtrail_paired_added_median_ms']:.2f} ms")
    print(f"gateway events recorded: {recorded}")
    return figures


if __name__ == "__main__":
    main()
