"""Acceptance: budgets hold through the real gateway (uvicorn on 127.0.0.1) in front of the fake provider.

200 concurrent calls from the official ``openai`` SDK against a $1.00 daily budget:
spend stays within the documented bound, every denial is a 429 naming the budget,
and once the (injected) clock passes midnight calls pass again.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import openai
import pytest
from tests.controls.controls_rig import HEADERS, MESSAGES, Gateway, running_gateway

from costtrail.gateway.estimation import estimate_cost
from costtrail.pricing import Pricer


async def _call(client: openai.AsyncOpenAI, extra: dict[str, str] | None = None) -> tuple[int, Any]:
    try:
        await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, max_tokens=1000, extra_headers={**HEADERS, **(extra or {})}
        )
        return 200, None
    except openai.RateLimitError as exc:
        return exc.status_code, (exc.response.headers.get("retry-after"), exc.response.json())


async def _burst(url: str, n: int, extra: dict[str, str] | None = None) -> list[tuple[int, Any]]:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:
        return await asyncio.gather(*(_call(client, extra) for _ in range(n)))


def test_200_concurrent_calls_hold_a_one_dollar_budget(gateway: Gateway) -> None:
    results = asyncio.run(_burst(gateway.url, 200))
    allowed = [r for r in results if r[0] == 200]
    denied = [r for r in results if r[0] != 200]
    assert len(allowed) + len(denied) == 200 and denied

    # every denial: 429, Retry-After until midnight, a JSON error naming the budget, its limit and spend
    for status, (retry_after, body) in denied:
        assert status == 429 and retry_after == str(12 * 3600)
        assert "prod-daily-dollar" in body["error"]["message"] and body["error"]["type"] == "budget_exceeded"
        assert body["costtrail"]["budget"] == "prod-daily-dollar" and body["costtrail"]["limit_usd"] == "1.00"
        assert Decimal(body["costtrail"]["spend_usd"]) <= Decimal("1.00")
        assert body["costtrail"]["scope"] == {"environment": "production"}

    events = gateway.events(len(allowed))
    spend = sum((e["cost_usd"] for e in events), Decimal(0))
    # The documented bound: limit + the sum over admitted calls of (actual - estimate) where positive.
    estimate = estimate_cost(
        Pricer(), "openai", {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 1000}
    )
    overrun = sum((max(Decimal(0), e["cost_usd"] - estimate) for e in events), Decimal(0))
    assert spend <= Decimal("1.00") + overrun
    assert overrun < Decimal("0.01")  # the estimate misses only a few input tokens of framing
    assert spend > Decimal("1.00") - 2 * estimate  # and the budget was used, not starved
    status = gateway.controls.budgets.status()[0]
    assert status.spent == spend and status.reserved == 0 and status.exhausted is (spend >= Decimal("1.00"))

    # the next day the budget starts again
    gateway.clock.at += timedelta(hours=12)
    again = asyncio.run(_burst(gateway.url, 5))
    assert [r[0] for r in again] == [200] * 5
    assert gateway.controls.budgets.status()[0].spent > 0
    kinds = [a.kind for a in gateway.controls.alerts.sent]
    assert kinds.count("budget_blocked") == 1 and "budget_threshold" in kinds


def test_a_looping_run_is_stopped_by_run_id(gateway: Gateway) -> None:
    run = {
        "X-Costtrail-Run-Id": "run-77",
        "X-Costtrail-Workflow": "support_reply",
        "X-Fake-Output-Tokens": "5",
    }
    results = [asyncio.run(_burst(gateway.url, 1, run))[0] for _ in range(10)]
    assert [r[0] for r in results] == [200] * 8 + [429] * 2
    retry_after, body = results[-1][1]
    assert int(retry_after) == 600 and "run 'run-77'" in body["costtrail"]["reason"]
    other = asyncio.run(_burst(gateway.url, 1, {**run, "X-Costtrail-Run-Id": "run-78"}))
    assert other[0][0] == 200
    [loop_alert] = [a for a in gateway.controls.alerts.sent if a.kind == "retry_loop"]
    assert loop_alert.evidence["run_id"] == "run-77" and loop_alert.evidence["events"] == 9


POLICIES = """
model_policies:
  - {name: support-models, scope: {workflow: support_reply}, allowed_models: [gpt-4o-mini], action: reroute,
     reroute_to: gpt-4o-mini}
  - {name: no-big-models, scope: {feature: chat}, max_output_usd_per_mtok: 5, action: reject}
alerts: {log: false}
"""


def test_model_policy_reroutes_and_rejects_through_the_gateway() -> None:
    with contextmanager(running_gateway)(POLICIES) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-test", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"X-Costtrail-Workflow": "support_reply"}
        )
        assert gw.fake.requests.last().body["model"] == "gpt-4o-mini"  # rerouted before forwarding
        assert reply.model.startswith("gpt-4o-mini")
        [event] = gw.events(1)
        assert event["model"].startswith("gpt-4o-mini") and event["workflow"] == "support_reply"
        with pytest.raises(openai.RateLimitError) as rejected:
            client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, extra_headers={"X-Costtrail-Feature": "chat"}
            )
        body = rejected.value.response.json()
        assert "model policy 'no-big-models'" in body["error"]["message"]
        assert "$10" in body["error"]["message"] and len(gw.fake.requests) == 1
        kinds = sorted(a.evidence["policy"] for a in gw.controls.alerts.sent)
        assert kinds == ["no-big-models", "support-models"]
        client.close()
