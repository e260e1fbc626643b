"""Prepaid credit in the SDK: an instrumented ``openai`` client stops before sending a call the
customer's balance (at its plan's price) has no room for; every recorded call spends it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import openai
import pytest
from genai_prices import Usage, calc_price

import costtrail
from costtrail.billing import PricePlans
from costtrail.billing.credits import CreditGate, Credits
from costtrail.controls.config import ControlsConfig
from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import Recorder
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.sink import QueuedSink

PLANS = PricePlans.from_yaml(
    "plans: [{name: pro, customers: [acme], charges: [{name: usage, metric: cost, markup_pct: 25}]}]"
)
NO_BUDGETS = ControlsConfig.from_yaml("budgets: []\nalerts: {log: false}")
MSG: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def ledger_recorder() -> Iterator[tuple[Recorder, DuckDBStore]]:
    with DuckDBStore(":memory:") as store:
        rec = Recorder(QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05))
        try:
            yield rec, store
        finally:
            rec.close(5)


def test_sdk_calls_stop_at_the_credit(ledger_recorder: tuple[Recorder, DuckDBStore]) -> None:
    rec, store = ledger_recorder
    alerts: list[str] = []
    credits = Credits().with_balance("acme", Decimal("0.05"), datetime.now(UTC))
    costtrail.enforce_budgets(
        NO_BUDGETS, recorder=rec, credits=CreditGate.build(credits, PLANS, on_alert=alerts.append)
    )
    with FakeProvider() as fake:
        client = costtrail.instrument(
            openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-x", max_retries=0), recorder=rec
        )
        sent = 0
        with pytest.raises(costtrail.BudgetExceeded) as stopped, costtrail.run("support", customer_id="acme"):
            for _ in range(20):
                client.chat.completions.create(
                    model="gpt-4o",
                    messages=MSG,
                    max_tokens=500,
                    extra_headers={"X-Fake-Output-Tokens": "500"},
                )
                sent += 1
        assert len(fake.requests) == sent  # the denied call was never sent
        # another customer has no credit to spend: not limited
        with costtrail.run("support", customer_id="globex"):
            client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=5)
    assert "acme's prepaid credit is used up: balance $0.05" in str(stopped.value)
    assert rec.flush(10)
    rows = store.query("SELECT input_tokens, output_tokens, cost_usd FROM events WHERE customer_id = 'acme'")
    assert len(rows) == sent
    used = Decimal(0)
    for r in rows:  # each call at genai-prices' price, + 25% for the customer
        usage = Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"])
        price = calc_price(usage, "gpt-4o", provider_id="openai").total_price
        assert r["cost_usd"] == price
        used += price * Decimal("1.25")
    # calls went until the next one's estimate (500 output tokens x $10/M x 1.25 = $0.00625, plus
    # the prompt) had no room: what is left is less than one call
    assert used <= Decimal("0.05") and Decimal("0.05") - used < Decimal("0.007")
    assert sent >= 6  # $0.05 / ~$0.0063 a call
    assert alerts == [f"customer acme has used 80% of its prepaid credit: ${_at_80(rows)} of $0.05"]


def _at_80(rows: list[dict[str, Any]]) -> str:
    """What acme had used when its use first reached 80% of $0.05 ($0.04), as the alert prints it."""
    used = Decimal(0)
    for r in rows:
        used += r["cost_usd"] * Decimal("1.25")
        if used >= Decimal("0.04"):
            break
    return format(used.quantize(Decimal("0.000001")).normalize(), "f")
