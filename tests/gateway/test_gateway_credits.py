"""Prepaid credit in the request path: 200 concurrent gateway calls for one customer with $1.00 of
credit at the plan's price (cost + 25%) end within the documented bound, and the 429 names the
balance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from genai_prices import Usage, calc_price
from tests.gateway.conftest import MakeRig

from costtrail.billing import PricePlans
from costtrail.billing.credits import CreditGate, Credits, CreditsError
from costtrail.controls.gate import RequestContext

PLANS = PricePlans.from_yaml(
    "plans: [{name: pro, customers: [acme], charges: [{name: usage, metric: cost, markup_pct: 25}]}]"
)
MESSAGES = [{"role": "user", "content": "Summarize the ticket."}]
OUTPUT_TOKENS = 3000  # what the fake provider answers with
MAX_TOKENS = 4000  # what the client asks: the gate's estimate covers the answer


async def _burst(url: str, n: int, customer: str) -> list[tuple[int, str]]:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:

        async def one() -> tuple[int, str]:
            try:
                await client.chat.completions.create(
                    model="gpt-4o",
                    messages=MESSAGES,  # type: ignore[arg-type]
                    max_tokens=MAX_TOKENS,
                    extra_headers={
                        "X-Fake-Output-Tokens": str(OUTPUT_TOKENS),
                        "X-Costtrail-Customer": customer,
                    },
                )
                return 200, ""
            except openai.RateLimitError as exc:
                return exc.status_code, str(exc)

        return await asyncio.gather(*(one() for _ in range(n)))


def test_200_concurrent_calls_stop_at_the_credit(make_rig: MakeRig) -> None:
    credits = Credits().with_balance("acme", Decimal("1.00"), datetime.now(UTC))
    gate = CreditGate.build(credits, PLANS)
    rig = make_rig(gate=gate)
    results = asyncio.run(_burst(rig.url, 200, "acme"))
    allowed = [r for r in results if r[0] == 200]
    denied = [r for r in results if r[0] == 429]
    assert len(allowed) + len(denied) == 200 and allowed and denied
    assert "acme's prepaid credit is used up: balance $1" in denied[0][1]
    events = rig.events(len(allowed))
    assert len(events) == len(allowed)
    # each call costs what genai-prices says for its usage; the customer pays it + 25%
    one = calc_price(Usage(input_tokens=events[0]["input_tokens"], output_tokens=OUTPUT_TOKENS), "gpt-4o",
                     provider_id="openai").total_price  # fmt: skip
    assert all(e["cost_usd"] == one for e in events)
    used = sum((e["cost_usd"] for e in events), Decimal(0)) * Decimal("1.25")
    # The bound (docs/billing.md): the balance, since each call's estimate (max_tokens = 4,000
    # output tokens) covers what it spent (3,000): no admitted call can overrun.
    assert used <= Decimal("1.00")
    # every call that fit at its reservation got in: each reserves its estimate at the plan's
    # price, 4,000 output tokens x $10/M x 1.25 = $0.05 plus a few input tokens, so 19 fit in $1.00
    assert len(allowed) >= 19
    (status,) = gate.status()
    assert status["reserved"] == 0 and status["used"] == used


def test_alert_at_80_percent_then_a_denial_naming_the_balance() -> None:
    alerts: list[str] = []
    gate = CreditGate({"acme": (Decimal("1.00"), Decimal("1.25"), Decimal(0))}, on_alert=alerts.append)
    ctx = RequestContext(customer_id="acme")
    first = gate.reserve(ctx, Decimal("0.40"))  # $0.50 at the plan's price
    gate.settle(first, Decimal("0.40"))
    assert alerts == []
    second = gate.reserve(ctx, Decimal("0.28"))  # $0.35: $0.85 used, past 80%
    gate.settle(second, Decimal("0.28"))
    assert alerts == ["customer acme has used 80% of its prepaid credit: $0.85 of $1"]
    third = gate.reserve(ctx, Decimal("0.20"))  # $0.25 > the $0.15 left
    assert not third.allowed and third.limit_usd == Decimal("1.00") and third.spend_usd == Decimal("0.85")
    assert "balance $1, $0.15 left" in third.reason
    gate.settle(gate.reserve(ctx, Decimal("0.10")), Decimal("0.10"))  # $0.125 fits
    assert len(alerts) == 1


def test_other_customers_are_not_limited(make_rig: MakeRig) -> None:
    gate = CreditGate.build(Credits().with_balance("acme", Decimal("0"), datetime.now(UTC)), PLANS)
    rig = make_rig(gate=gate)
    results = asyncio.run(_burst(rig.url, 3, "globex"))
    assert [r[0] for r in results] == [200, 200, 200]
    assert [r[0] for r in asyncio.run(_burst(rig.url, 1, "acme"))] == [429]


def test_credits_file_and_plan_errors(tmp_path: Path) -> None:
    path = tmp_path / "credits.yaml"
    Credits.load(path).with_balance("acme", Decimal("2.50"), datetime(2026, 11, 1, tzinfo=UTC)).save(path)
    assert Credits.load(path).credits["acme"].balance_usd == Decimal("2.50")
    path.write_text("credits:\n  acme: {balance_usd: -1, as_of: 2026-11-01T00:00:00Z}\n")
    with pytest.raises(CreditsError, match=r"credits.yaml:2: credits.acme.balance_usd"):
        Credits.load(path)
    flat = PricePlans.from_yaml(
        "default_plan: flat\nplans: [{name: flat, charges: [{name: calls, metric: calls, unit_price: 1}]}]"
    )
    with pytest.raises(CreditsError, match="no cost-plus charge"):
        CreditGate.build(Credits().with_balance("acme", Decimal(1), datetime.now(UTC)), flat)


def test_credits_commands(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from costtrail.cli.main import app

    file = tmp_path / "credits.yaml"
    done = CliRunner().invoke(app, ["credits", "set", "acme", "12.50", "--file", str(file)])
    assert done.exit_code == 0 and "acme: $12.50 of prepaid credit" in done.output
    shown = CliRunner().invoke(app, ["credits", "show", "--file", str(file)])
    assert shown.output.startswith("acme\t$12.50\tsince ")
    bad = CliRunner().invoke(app, ["credits", "set", "--file", str(file), "--", "acme", "-1"])
    assert bad.exit_code == 2 and "a balance is at least 0" in bad.output
