"""One prepaid balance, two gateways: ``costtrail gateway --credits ... --budget-store redis://...``.

Real processes: ``redis-server``, the fake provider, two gateways started as a user starts
them; the official ``openai`` SDK sends 200 concurrent calls for one customer with $1.00 of
credit at its plan's price (cost + 25%), half to each gateway. Each gateway alone would admit
up to $1.00 of calls; sharing the balance in Redis, both together stay within it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
import redis
from genai_prices import Usage, calc_price
from tests.controls.test_controls_shared_budget import COSTTRAIL, Proc, _healthy, free_port, start_redis

from costtrail.billing.credits import Credits
from costtrail.demo.provider_process import ProviderProcess
from costtrail.ledger.duckdb_store import DuckDBStore

PLANS = "plans: [{name: pro, customers: [acme], charges: [{name: usage, metric: cost, markup_pct: 25}]}]\n"
MESSAGES = [{"role": "user", "content": "Summarize the ticket."}]
HEADERS = {"X-Fake-Output-Tokens": "3000", "X-Costtrail-Customer": "acme"}
MAX_TOKENS = 4000  # the gate's estimate covers the 3,000 tokens the fake provider answers with


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[list[Proc], list[Path], redis.Redis]]:
    credits, plans = tmp_path / "credits.yaml", tmp_path / "plans.yaml"
    Credits().with_balance("acme", Decimal("1.00"), datetime.now(UTC)).save(credits)
    plans.write_text(PLANS)
    red, client, rport = start_redis(tmp_path)
    fake = ProviderProcess()
    ledgers = [tmp_path / f"gateway{i}.duckdb" for i in range(2)]
    gateways: list[Proc] = []
    try:  # every process is stopped, also when one fails to start
        fake.start()
        for i, ledger in enumerate(ledgers):
            port = free_port()
            args = [
                COSTTRAIL, "gateway", "--port", str(port), "--upstream", f"openai={fake.base_url}",
                "--ledger", str(ledger), "--credits", str(credits), "--plans", str(plans),
                "--budget-store", f"redis://127.0.0.1:{rport}/0",
            ]  # fmt: skip
            gateways.append(Proc(args, tmp_path / f"gateway{i}.log", port=port).start(_healthy(port)))
        yield gateways, ledgers, client
    finally:
        for g in gateways:
            g.stop()
        fake.stop()
        red.stop()
        client.close()


async def _burst(urls: list[str]) -> list[tuple[int, str]]:
    clients = {
        u: openai.AsyncOpenAI(base_url=u + "/v1", api_key="sk-test", max_retries=0, timeout=120)
        for u in set(urls)
    }

    async def one(url: str) -> tuple[int, str]:
        try:
            await clients[url].chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
                extra_headers=HEADERS,
            )
            return 200, ""
        except openai.APIStatusError as exc:
            return exc.status_code, str(exc)

    try:
        return await asyncio.gather(*(one(u) for u in urls))
    finally:
        for c in clients.values():
            await c.close()


def test_200_calls_over_two_gateways_spend_one_balance(
    two_gateways: tuple[list[Proc], list[Path], redis.Redis],
) -> None:
    gateways, ledgers, client = two_gateways
    urls = [f"http://127.0.0.1:{gateways[i % 2].port}" for i in range(200)]
    results = asyncio.run(_burst(urls))
    # then one call at a time, alternating gateways, until the balance has no room for one more
    for i in range(12):
        (last,) = asyncio.run(_burst(urls[i % 2 : i % 2 + 1]))
        results.append(last)
        if last[0] != 200:
            break
    assert results[-1][0] == 429
    allowed = [r for r in results if r[0] == 200]
    denied = [r for r in results if r[0] == 429]
    assert len(allowed) + len(denied) == len(results) and denied
    assert all("acme's prepaid credit is used up: balance $1" in text for _, text in denied)
    for g in gateways:  # SIGTERM flushes each gateway's ledger writer
        g.stop()
    rows = []
    for path in ledgers:
        store = DuckDBStore(path, read_only=True)
        try:
            rows += store.query(
                "SELECT cost_usd, input_tokens, output_tokens FROM events WHERE customer_id = 'acme'"
            )
        finally:
            store.close()
    assert len(rows) == len(allowed)
    # each call costs what genai-prices says for its usage; the customer pays it + 25%
    for r in rows:
        usage = Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"])
        assert r["cost_usd"] == calc_price(usage, "gpt-4o", provider_id="openai").total_price
    used = sum((r["cost_usd"] for r in rows), Decimal(0)) * Decimal("1.25")
    # The bound (docs/billing.md): the balance, across both gateways (each call's estimate of
    # 4,000 output tokens covers its 3,000). Each gateway alone would have admitted ~$1.00.
    assert used <= Decimal("1.00")
    # calls got in until the balance had no room for one more reservation: 4,000 output tokens x
    # $10/M x 1.25 = $0.05 (plus a few input tokens), so less than that is left
    assert Decimal("1.00") - used < Decimal("0.0501")
    # one alert at 80% of the balance, from the gateway whose call carried it past
    logs = "".join(g.log.read_text() for g in gateways)
    assert logs.count("customer acme has used 80% of its prepaid credit") == 1
    # Redis holds the balance's use, exact in nano-dollars, and no hold is left
    (key,) = client.scan_iter("costtrail:budget:{credit:acme:*}:counters")
    counters = {k: int(v) for k, v in client.hgetall(key).items()}
    assert counters == {"spent": int(used * 1_000_000_000), "reserved": 0}
