"""SDK enforcement: check_budget() and instrumented calls that raise BudgetExceeded before they are sent."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

import costtrail
from costtrail.controls.config import ControlsConfig
from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import Recorder
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.sink import QueuedSink

# gpt-4o at $2.50 / $10 per Mtok: 500 output tokens cost $0.005 plus a little input
CONTROLS = ControlsConfig.from_yaml(
    "budgets: [{name: acme-daily, scope: {tenant_id: acme}, period: day, limit_usd: 0.02}]\n"
    "alerts: {log: false}"
)
MSG: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, DuckDBStore]]:
    store = DuckDBStore(":memory:")
    rec = Recorder(QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05))
    yield rec, store
    rec.close(5)
    store.close()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def test_instrumented_calls_stop_before_send(
    recorder: tuple[Recorder, DuckDBStore], fake: FakeProvider
) -> None:
    rec, store = recorder
    hook = costtrail.enforce_budgets(CONTROLS, recorder=rec)
    raw = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-x", max_retries=0)
    client = costtrail.instrument(raw, recorder=rec)
    sent = 0
    with pytest.raises(costtrail.BudgetExceeded) as stopped, costtrail.run("support_reply", tenant_id="acme"):
        for _ in range(10):
            client.chat.completions.create(
                model="gpt-4o", messages=MSG, max_tokens=500, extra_headers={"X-Fake-Output-Tokens": "500"}
            )
            sent += 1
    decision = stopped.value.decision
    assert decision.rule == "acme-daily" and decision.limit_usd == Decimal("0.02")
    assert len(fake.requests) == sent == 3  # the 4th call's estimate did not fit; it was never sent
    assert rec.flush(10)
    spent = store.query("SELECT sum(cost_usd) AS c FROM events WHERE tenant_id = 'acme'")[0]["c"]
    assert hook.controls.budgets.status()[0].spent == spent
    # other tenants are not limited, and check_budget says the same as the gate
    with costtrail.run("support_reply", tenant_id="globex"):
        client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=5)
        assert costtrail.check_budget("0.01", recorder=rec).allowed
    with costtrail.run("support_reply", tenant_id="acme"):
        verdict = costtrail.check_budget("0.01", recorder=rec)
        assert not verdict.allowed and verdict.rule == "acme-daily"
        assert costtrail.check_budget("0.001", recorder=rec).allowed == (
            spent + Decimal("0.001") <= Decimal("0.02")
        )


async def test_async_client_is_stopped_too(
    recorder: tuple[Recorder, DuckDBStore], fake: FakeProvider
) -> None:
    rec, _ = recorder
    costtrail.enforce_budgets(
        ControlsConfig.from_yaml("budgets: [{name: tiny, limit_usd: 0.001}]\nalerts: {log: false}"),
        recorder=rec,
    )
    client = costtrail.instrument(
        openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-x", max_retries=0), recorder=rec
    )
    with pytest.raises(costtrail.BudgetExceeded, match="budget 'tiny' has no room"):
        await client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=1000)
    assert len(fake.requests) == 0
    await client.close()


def test_without_enforcement_nothing_changes(
    recorder: tuple[Recorder, DuckDBStore], fake: FakeProvider
) -> None:
    rec, _ = recorder
    assert costtrail.check_budget("1000000", recorder=rec).allowed
    client = costtrail.instrument(openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-x"), recorder=rec)
    client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=5)
    assert len(fake.requests) == 1
    client.close()


def _gemini(fake: FakeProvider, rec: Recorder) -> Any:
    from google import genai
    from google.genai import types

    # The fake writes 1000 output tokens: gemini-2.5-flash at $2.50 / Mtok makes $0.0025 a call.
    knobs = {"x-fake-input-tokens": "10", "x-fake-output-tokens": "1000"}
    options = types.HttpOptions(base_url=fake.base_url, headers=knobs)
    return costtrail.instrument(genai.Client(api_key="AIza-test-key", http_options=options), recorder=rec)


def test_gemini_calls_stop_before_send(recorder: tuple[Recorder, DuckDBStore], fake: FakeProvider) -> None:
    from google.genai import types

    rec, store = recorder
    hook = costtrail.enforce_budgets(
        ControlsConfig.from_yaml(
            "budgets: [{name: acme, scope: {tenant_id: acme}, limit_usd: 0.004}]\nalerts: {log: false}"
        ),
        recorder=rec,
    )
    client = _gemini(fake, rec)
    capped = types.GenerateContentConfig(max_output_tokens=1000)  # estimated at $0.0025 + the prompt
    with costtrail.run("support_reply", tenant_id="acme"):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=capped)
        # $0.0025 spent: a second $0.0025 does not fit in $0.004
        with pytest.raises(costtrail.BudgetExceeded, match="budget 'acme' has no room"):
            client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=capped)
    assert len(fake.requests) == 1  # the second call was never sent
    assert rec.flush(10)
    spent = store.query("SELECT sum(cost_usd) AS c FROM events WHERE tenant_id = 'acme'")[0]["c"]
    assert hook.controls.budgets.status()[0].spent == spent > Decimal("0.0025")
    with costtrail.run("support_reply", tenant_id="globex"):  # other tenants are not limited
        client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=capped)
    assert len(fake.requests) == 2


async def test_async_gemini_calls_stop_before_send(
    recorder: tuple[Recorder, DuckDBStore], fake: FakeProvider
) -> None:
    rec, _ = recorder
    costtrail.enforce_budgets(
        ControlsConfig.from_yaml("budgets: [{name: tiny, limit_usd: 0.001}]\nalerts: {log: false}"),
        recorder=rec,
    )
    client = _gemini(fake, rec)
    with pytest.raises(costtrail.BudgetExceeded, match="budget 'tiny' has no room"):
        await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config={"max_output_tokens": 1000}
        )
    assert len(fake.requests) == 0
