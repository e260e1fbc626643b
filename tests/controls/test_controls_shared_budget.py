"""N gateways, one budget: three ``costtrail gateway`` processes sharing a Redis budget store.

Real processes throughout: Debian's ``redis-server`` (installed by .ci/system-deps), the fake
provider, and three gateways started as a user starts them, each writing its own ledger file.
The official ``openai`` SDK sends the calls.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from tests.waiting import wait_until

from costtrail.demo.provider_process import ProviderProcess
from costtrail.gateway.estimation import estimate_cost
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer

COSTTRAIL = str(Path(sys.executable).with_name("costtrail"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
MESSAGES: Any = [{"role": "user", "content": "Summarise ticket 4411 for the customer, politely."}]
PROD = {"X-Costtrail-Environment": "production", "X-Fake-Output-Tokens": "1000"}
CONTROLS = """
budgets:
  - {name: prod-daily-dollar, scope: {environment: production}, period: day, limit_usd: 1.00}
  - {name: batch-daily-nickel, scope: {environment: batch}, period: day, limit_usd: 0.05}
alerts: {log: true, ledger: false}
"""
LEASE_S = 60.0  # longer than any call of the burst on a loaded 2-core machine
SHORT_LEASE_S = 3.0  # the gateway that is killed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    args: list[str]
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool]) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[:2]} exited: {self.log.read_text()}")
            return ready()

        wait_until(up, timeout=120, message=f"{self.args[:2]} to start")  # slow on a loaded machine
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


@dataclass
class Rig:
    redis: Proc
    redis_client: redis.Redis
    gateways: list[Proc]
    ledgers: list[Path]
    fake: ProviderProcess
    extra: list[Proc] = field(default_factory=list)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.gateways[i].port}"

    def counters(self, budget: str) -> dict[str, int]:
        """The budget's counters for today, read from Redis itself (not through costtrail)."""
        keys = [k for k in self.redis_client.scan_iter(f"costtrail:budget:{{{budget}:*}}:counters")]
        assert len(keys) == 1, keys
        return {k: int(v) for k, v in self.redis_client.hgetall(keys[0]).items()}


def _healthy(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def start_redis(tmp: Path) -> tuple[Proc, redis.Redis, int]:
    """A ``redis-server`` on a free port (no persistence), a client, and the port."""
    assert os.path.exists(REDIS_SERVER), "redis-server is missing: run .ci/system-deps as root"
    rport = free_port()
    red = Proc(
        [REDIS_SERVER, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        tmp / "redis.log",
    )
    client = redis.Redis(port=rport, decode_responses=True)

    def pong() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    red.start(pong)
    return red, client, rport


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("shared_budget")
    controls = tmp / "controls.yaml"
    controls.write_text(CONTROLS)
    red, client, rport = start_redis(tmp)
    fake = ProviderProcess().start()

    def gateway(i: int, *extra: str) -> Proc:
        port = free_port()
        args = [
            COSTTRAIL, "gateway", "--port", str(port), "--upstream", f"openai={fake.base_url}",
            "--ledger", str(tmp / f"gateway{i}.duckdb"), "--controls", str(controls),
            "--budget-store", f"redis://127.0.0.1:{rport}/0", *extra,
        ]  # fmt: skip
        return Proc(args, tmp / f"gateway{i}.log", port=port)

    lease = ("--budget-lease-seconds", str(LEASE_S))
    gateways = [gateway(0, *lease), gateway(1, *lease), gateway(2, *lease, "--fail-closed")]
    doomed = gateway(3, "--budget-lease-seconds", str(SHORT_LEASE_S))
    try:  # every process is stopped, also when one fails to start
        for g in gateways:
            g.start(_healthy(g.port))
        ledgers = [tmp / f"gateway{i}.duckdb" for i in range(3)]
        yield Rig(red, client, gateways, ledgers, fake, [doomed])
    finally:
        for g in [*gateways, doomed]:
            g.stop(signal.SIGKILL if g is doomed else signal.SIGTERM)
        fake.stop()
        red.stop()
        client.close()


async def _call(client: openai.AsyncOpenAI, headers: dict[str, str]) -> int:
    try:
        await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, max_tokens=1000, extra_headers=headers
        )
        return 200
    except openai.APIStatusError as exc:
        return exc.status_code
    except openai.APIConnectionError:
        return 0  # the gateway went away (killed)


async def _burst(calls: list[tuple[str, dict[str, str]]]) -> list[int]:
    """The calls at once, one SDK client per gateway."""
    clients = {
        url: openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=120)
        for url in {url for url, _ in calls}
    }
    try:
        return await asyncio.gather(*(_call(clients[url], headers) for url, headers in calls))
    finally:
        for client in clients.values():
            await client.close()


def _spend(ledgers: list[Path], environment: str) -> tuple[Decimal, list[Decimal]]:
    costs: list[Decimal] = []
    for path in ledgers:
        store = DuckDBStore(path, read_only=True)
        try:
            rows = store.query(f"SELECT cost_usd FROM events WHERE environment = '{environment}'")
        finally:
            store.close()
        costs += [r["cost_usd"] for r in rows]
    return sum(costs, Decimal(0)), costs


def test_300_calls_over_three_gateways_hold_one_dollar(rig: Rig) -> None:
    calls = [(rig.url(i % 3), PROD) for i in range(300)]
    results = asyncio.run(_burst(calls))
    assert set(results) == {200, 429} and results.count(200) > 50
    for g in rig.gateways:  # SIGTERM flushes each gateway's ledger writer
        g.stop()
    spend, costs = _spend(rig.ledgers, "production")
    assert len(costs) == results.count(200)
    # The single-gateway bound (docs/controls.md): limit + the sum over admitted calls of what
    # each cost beyond its estimate. Without a shared store three gateways could spend $3.
    estimate = estimate_cost(
        Pricer(), "openai", {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 1000}
    )
    overrun = sum((max(Decimal(0), c - estimate) for c in costs), Decimal(0))
    assert spend <= Decimal("1.00") + overrun
    assert spend > Decimal("1.00") - 2 * estimate  # the budget was used, not starved
    counters = rig.counters("prod-daily-dollar")
    assert counters["reserved"] == 0
    assert Decimal(counters["spent"]) / Decimal("1e9") >= spend  # nano-dollars, each rounded up
    for g in rig.gateways:  # back up for the next tests
        g.start(_healthy(g.port))


def test_a_gateway_killed_mid_burst_frees_its_holds_after_the_lease(rig: Rig) -> None:
    batch = {"X-Costtrail-Environment": "batch", "X-Fake-Output-Tokens": "1000", "X-Fake-Delay-Ms": "20000"}

    doomed = rig.extra[0].start(_healthy(rig.extra[0].port))
    doomed_url = f"http://127.0.0.1:{doomed.port}"

    async def slow_burst() -> list[int]:
        return await _burst([(doomed_url, batch)] * 8)

    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(slow_burst())), daemon=True)
    thread.start()
    # $0.05 with ~$0.01 per call: gateway 1 holds the whole budget for its slow calls.
    wait_until(lambda: rig.counters("batch-daily-nickel").get("reserved", 0) >= 40_000_000, message="holds")
    doomed.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    quick = {"X-Costtrail-Environment": "batch", "X-Fake-Output-Tokens": "10"}
    assert asyncio.run(_burst([(rig.url(0), quick)])) == [429]  # held by the dead gateway's calls

    # Expired holds are released by the next script that touches the budget: this gateway's calls.
    # The dead gateway's holds were taken a few milliseconds apart, so they expire one by one: the
    # first quick call may pass while later holds still stand. Wait until every one is gone.
    def all_holds_released() -> bool:
        return asyncio.run(_burst([(rig.url(0), quick)])) == [200] and (
            rig.counters("batch-daily-nickel")["reserved"] == 0
        )

    wait_until(all_holds_released, timeout=SHORT_LEASE_S + 15, message="the dead gateway's holds to expire")
    assert time.monotonic() - killed_at <= SHORT_LEASE_S + 15
    thread.join(timeout=30)


def test_redis_stopped_fail_open_and_fail_closed_behave_as_configured(rig: Rig) -> None:
    rig.redis.stop()
    open_result = asyncio.run(_burst([(rig.url(0), PROD)]))
    closed_result = asyncio.run(_burst([(rig.url(2), PROD)]))
    assert open_result == [200]  # fail-open: admitted unchecked
    assert closed_result == [429]  # fail-closed: denied, naming the budget store
    wait_until(
        lambda: all("budget_store_unavailable" in rig.gateways[i].log.read_text() for i in (0, 2)),
        message="the alert in both gateways' logs",
    )
