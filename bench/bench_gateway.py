"""Gateway overhead: added latency and throughput against direct-to-upstream and LiteLLM's proxy.

All in one run, against the same fake OpenAI upstream (its own process on 127.0.0.1):
- direct: the client calls the upstream;
- costtrail: ``costtrail gateway`` (one process, recording to a local ledger) in front of it;
- costtrail-httpx, costtrail-httpcore: the same gateway with a maintained client carrying its
  priced calls instead of its own pool (``bench/gateway_variant.py``), for issue #17's rule: the
  pool stays only if a library costs more than 10% of throughput or 0.1 ms of added p50;
- LiteLLM: ``litellm --num_workers 1`` (installed by this script into bench/.work/litellm-venv,
  run with LITELLM_LOCAL_MODEL_COST_MAP=True) routed to the same upstream.
- Gemini: the same gateway's Gemini route (``/v1beta/models/{model}:generateContent``) beside
  the upstream's, latency only: its added p50 is compared with the OpenAI route's in the same run.
Sequential latency interleaves the targets request by request, so load on the machine
hits them alike; added latency is each target's percentile minus direct's. Throughput keeps 50
keep-alive connections busy against each target in turn. Both clients send raw HTTP/1.1 and parse
with httptools (the load generator on uvloop), the same for every target, so the client's own
cost stays small and equal. ROUNDS rounds of both. Afterwards the gateway's ledger is counted:
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

import httptools
import httpx
import uvloop

WORK = Path(__file__).resolve().parent / ".work"
LITELLM_VENV = WORK / "litellm-venv"
ROUNDS = 3
SEQUENTIAL = 600
WARMUP = 50
CONCURRENCY = 50
CONCURRENT_REQUESTS = 3000
LITELLM_CONCURRENT_REQUESTS = 1000  # at ~60 req/s: 3000 would take most of the bench's time
VARIANTS = ("httpx", "httpcore")  # maintained clients measured against the gateway's own pool
POOL_RULE = (0.10, 0.1)  # the pool stays if a library costs > 10% throughput or > 0.1 ms added p50
MODEL = "gpt-4o-mini"
BODY = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "Where is my order #42?"}], "max_tokens": 30}
).encode()
GEMINI = "-gemini"  # targets named so are sent a Gemini generateContent call instead
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
GEMINI_BODY = json.dumps(
    {
        "contents": [{"role": "user", "parts": [{"text": "Where is my order #42?"}]}],
        "generationConfig": {"maxOutputTokens": 30},
    }
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


class _Exchange:
    """httptools callbacks for one response at a time on a keep-alive connection."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done = False

    def on_message_complete(self) -> None:
        self.done = True


def _request(url: str, gemini: bool = False) -> bytes:
    """The same chat completion (or Gemini call) as raw HTTP/1.1 bytes (keep-alive), so no client
    library cost is timed."""
    host = url.removeprefix("http://")
    path, body = (GEMINI_PATH, GEMINI_BODY) if gemini else ("/v1/chat/completions", BODY)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {HEADERS['Authorization']}\r\n"
        f"x-goog-api-key: AIza-bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class LeanClient:
    """A blocking keep-alive HTTP/1.1 client on one socket: send the request, read one whole response."""

    def __init__(self, url: str, gemini: bool = False) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.payload = _request(url, gemini)

    def call(self) -> int:
        exchange = _Exchange()
        self.sock.sendall(self.payload)
        while not exchange.done:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            exchange.parser.feed_data(data)
        return int(exchange.parser.get_status_code())

    def close(self) -> None:
        self.sock.close()


def sequential(targets: dict[str, str], count: int, warmup: int) -> dict[str, list[float]]:
    """Per-request latency (ms), the targets interleaved request by request."""
    clients = {name: LeanClient(url, name.endswith(GEMINI)) for name, url in targets.items()}
    samples: dict[str, list[float]] = {name: [] for name in targets}
    try:
        for i in range(warmup + count):
            for name, client in clients.items():
                start = time.perf_counter()
                status = client.call()
                elapsed = (time.perf_counter() - start) * 1000
                assert status == 200, f"{name} answered {status}"
                if i >= warmup:
                    samples[name].append(elapsed)
    finally:
        for client in clients.values():
            client.close()
    return samples


class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection of the load generator: the next request goes out when a response ends."""

    def __init__(self, payload: bytes, budget: list[int], finished: asyncio.Future[None]) -> None:
        self.payload, self.budget, self.finished = payload, budget, finished
        self.transport: asyncio.Transport | None = None
        self.exchange = _Exchange()
        self.ok = self.failed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        if self.budget[0] <= 0:
            self.transport.close()
            return
        self.budget[0] -= 1
        self.exchange = _Exchange()
        self.transport.write(self.payload)

    def data_received(self, data: bytes) -> None:
        self.exchange.parser.feed_data(data)
        if self.exchange.done:
            if self.exchange.parser.get_status_code() == 200:
                self.ok += 1
            else:
                self.failed += 1
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.exchange.done:
            self.failed += 1
        if not self.finished.done():
            self.finished.set_result(None)


async def _load(url: str, requests: int) -> tuple[float, int]:
    """Requests per second with CONCURRENCY connections busy, and how many failed (counted, not retried)."""
    loop = asyncio.get_running_loop()
    host, port = url.removeprefix("http://").split(":")
    payload = _request(url)
    budget = [requests]
    protocols: list[_LoadProtocol] = []
    done: list[asyncio.Future[None]] = []
    start = time.perf_counter()
    for _ in range(CONCURRENCY):
        finished: asyncio.Future[None] = loop.create_future()
        _, protocol = await loop.create_connection(
            lambda f=finished: _LoadProtocol(payload, budget, f),  # type: ignore[misc]
            host,
            int(port),
        )
        protocols.append(protocol)
        done.append(finished)
    await asyncio.gather(*done)
    elapsed = time.perf_counter() - start
    ok = sum(p.ok for p in protocols)
    return ok / elapsed, requests - ok


def throughput(url: str, requests: int) -> tuple[float, int]:
    """:func:`_load` on uvloop (the generator must not be the bottleneck), after a warm-up round."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_load(url, CONCURRENCY * 4))
        return runner.run(_load(url, requests))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(targets: dict[str, str]) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, int]]:
    """ROUNDS rounds; each: sequential latency (targets interleaved), then throughput per target."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    rates: dict[str, list[float]] = {name: [] for name in targets if not name.endswith(GEMINI)}
    failures = dict.fromkeys(targets, 0)
    for _ in range(ROUNDS):
        for name, values in sequential(targets, SEQUENTIAL, WARMUP).items():
            samples[name].extend(values)
        for name, url in targets.items():
            if name.endswith(GEMINI):
                continue
            requests = CONCURRENT_REQUESTS if name != "litellm" else LITELLM_CONCURRENT_REQUESTS
            rate, failed = throughput(url, requests)
            rates[name].append(rate)
            failures[name] += failed
    return samples, rates, failures


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
        command += ["--upstream", f"openai={upstream}", "--upstream", f"google={upstream}"]
        command += ["--ledger", str(ledger)]
        gateway = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        procs.append(gateway)
        targets = {"direct": upstream, "costtrail": f"http://127.0.0.1:{gw_port}"}
        targets |= {"direct" + GEMINI: upstream, "costtrail" + GEMINI: targets["costtrail"]}
        ledgers = {"costtrail": ledger}
        gateways = [gateway]
        _wait(upstream + "/v1/chat/completions", fake)
        _wait(targets["costtrail"] + "/v1/chat/completions", gateway)
        for variant in VARIANTS:
            name, port = f"costtrail-{variant}", _free_port()
            ledgers[name] = folder / f"{name}.duckdb"
            args = [sys.executable, "-m", "bench.gateway_variant", variant, "--port", str(port)]
            args += ["--upstream", f"openai={upstream}", "--ledger", str(ledgers[name])]
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
            procs.append(proc)
            gateways.append(proc)
            targets[name] = f"http://127.0.0.1:{port}"
            _wait(targets[name] + "/v1/chat/completions", proc)
        exe, litellm_note = install_litellm()
        if exe is not None:
            litellm, litellm_url = start_litellm(exe, upstream, folder)
            procs.append(litellm)
            try:
                _wait(litellm_url + "/v1/chat/completions", litellm, timeout=300)
                targets["litellm"] = litellm_url
            except RuntimeError as exc:
                litellm_note = f"LiteLLM proxy did not start: {exc}"
        samples, rates, failures = measure(targets)
        for proc in gateways:  # each flushes its sink into its ledger before it exits
            proc.send_signal(signal.SIGINT)
        for proc in gateways:
            proc.wait(60)
        from costtrail.ledger.duckdb_store import DuckDBStore

        recorded = 0
        for path in ledgers.values():
            store = DuckDBStore(path, read_only=True)
            recorded += int(store.query("SELECT count(*) AS n FROM events")[0]["n"])
            store.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    served = len(ledgers) * (
        ROUNDS * (WARMUP + SEQUENTIAL + CONCURRENT_REQUESTS + CONCURRENCY * 4) + 1
    ) + ROUNDS * (WARMUP + SEQUENTIAL)  # + the start-up probe, for each gateway; + the Gemini calls
    return report(samples, rates, failures, recorded, served, litellm_note)


def _goal(met: bool, text: str) -> str:
    return f"{text}: {'met' if met else 'not met'}"


def report(
    samples: dict[str, list[float]],
    rates: dict[str, list[float]],
    failures: dict[str, int],
    recorded: int,
    served: int,
    litellm_note: str,
) -> dict[str, Any]:
    """Print the table and return the figures (``{"value", "unit", "baseline", "ratio", ...}`` dicts)."""
    base50, base99 = _pct(samples["direct"], 0.5), _pct(samples["direct"], 0.99)
    rate = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"{ROUNDS} rounds; sequential: {SEQUENTIAL} requests per target per round, interleaved; "
        f"concurrent: {CONCURRENCY} connections, {CONCURRENT_REQUESTS} requests per round "
        f"({LITELLM_CONCURRENT_REQUESTS} for LiteLLM); throughput = median of the rounds"
    )
    print(
        f"{'target':<12}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}"
        f"{'req/s @50':>11}{'failed':>8}"
    )
    added: dict[str, tuple[float, float]] = {}
    for name, values in samples.items():
        p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
        # A Gemini target's latency is added to the upstream's own Gemini answer, not OpenAI's.
        direct = samples["direct" + GEMINI] if name.endswith(GEMINI) else samples["direct"]
        d50, d99 = _pct(direct, 0.5), _pct(direct, 0.99)
        added[name] = (p50 - d50, p99 - d99)
        print(
            f"{name:<12}{p50:>9.3f}{p99:>9.3f}{p50 - d50:>11.3f}{p99 - d99:>11.3f}"
            f"{rate.get(name, float('nan')):>11.0f}{failures[name]:>8}"
        )
    paired = statistics.median(g - d for g, d in zip(samples["costtrail"], samples["direct"], strict=True))
    figures: dict[str, Any] = {
        "direct p50 latency": {"value": base50, "unit": "ms", "runs": ROUNDS},
        "direct p99 latency": {"value": base99, "unit": "ms", "runs": ROUNDS},
        "direct throughput @50": {"value": rate["direct"], "unit": "req/s", "runs": ROUNDS},
        "costtrail added p99": {"value": added["costtrail"][1], "unit": "ms", "runs": ROUNDS},
        "costtrail paired added latency (median)": {"value": paired, "unit": "ms", "runs": ROUNDS},
        "gateway events recorded": {"value": recorded, "unit": "events", "baseline": served},
        "failed requests": {"value": sum(failures.values()), "unit": "requests"},
    }
    gemini_added, openai_added = added["costtrail" + GEMINI][0], added["costtrail"][0]
    gemini_ratio = gemini_added / max(openai_added, 1e-3)
    figures["Gemini route added p50 (baseline: the OpenAI route's)"] = {
        "value": gemini_added,
        "unit": "ms",
        "baseline": openai_added,
        "ratio": gemini_ratio,
        "runs": ROUNDS,
        "goal": _goal(gemini_ratio <= 1.10, "within 10% of the OpenAI route's"),
    }
    print(f"Gemini route added p50 {gemini_added:.3f} ms vs OpenAI route {openai_added:.3f} ms")
    if "litellm" in samples:
        lite50, lite99 = added["litellm"]
        vs_latency = lite50 / max(added["costtrail"][0], 1e-3)
        vs_rate = rate["costtrail"] / rate["litellm"]
        figures["costtrail added p50 (baseline: LiteLLM's; ratio: times lower)"] = {
            "value": added["costtrail"][0],
            "unit": "ms",
            "baseline": lite50,
            "ratio": vs_latency,
            "runs": ROUNDS,
            "goal": _goal(
                added["costtrail"][0] < 1.0 and vs_latency >= 15, "< 1 ms and >= 15x below LiteLLM"
            ),
        }
        figures["litellm added p99"] = {"value": lite99, "unit": "ms", "runs": ROUNDS}
        figures["costtrail throughput @50 (baseline: LiteLLM's)"] = {
            "value": rate["costtrail"],
            "unit": "req/s",
            "baseline": rate["litellm"],
            "ratio": vs_rate,
            "runs": ROUNDS,
            "goal": _goal(vs_rate >= 15, ">= 15x LiteLLM"),
        }
        print(f"costtrail vs LiteLLM: added p50 {vs_latency:.1f}x lower, throughput {vs_rate:.1f}x higher")
    else:
        figures["costtrail added p50"] = {"value": added["costtrail"][0], "unit": "ms", "runs": ROUNDS}
        figures["costtrail throughput @50"] = {"value": rate["costtrail"], "unit": "req/s", "runs": ROUNDS}
        figures["litellm"] = litellm_note
        print(f"LiteLLM not measured: {litellm_note}")
    for variant in VARIANTS:
        name = f"costtrail-{variant}"
        if name not in samples:
            continue
        cost = 1 - rate[name] / rate["costtrail"]
        extra = added[name][0] - added["costtrail"][0]
        keeps = cost > POOL_RULE[0] or extra > POOL_RULE[1]
        figures[f"{name} added p50 (baseline: the pool's)"] = {
            "value": added[name][0],
            "unit": "ms",
            "baseline": added["costtrail"][0],
            "runs": ROUNDS,
        }
        figures[f"{name} throughput @50 (baseline: the pool's)"] = {
            "value": rate[name],
            "unit": "req/s",
            "baseline": rate["costtrail"],
            "ratio": rate[name] / rate["costtrail"],
            "runs": ROUNDS,
            "goal": _goal(keeps, f"the pool stays: {variant} costs > 10% req/s or > 0.1 ms added p50"),
        }
        print(
            f"{variant} instead of the pool: {cost:+.1%} throughput cost, {extra:+.3f} ms added p50"
            f" -> {'keep the pool' if keeps else 'use ' + variant}"
        )
    print(f"paired added latency, median: {paired:.3f} ms")
    print(f"gateway events recorded: {recorded} of {served} calls served")
    return figures


if __name__ == "__main__":
    main()
