"""The controls and optimization SQL is portable: the same answers on DuckDB and ClickHouse (chdb)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.controls.controls_traffic import NOW, make_run

from costtrail.controls.alerts import LedgerAlertSink, read_alerts
from costtrail.controls.budgets import BudgetGate
from costtrail.controls.config import ControlsConfig
from costtrail.controls.guardrails import run_guardrails
from costtrail.controls.spend import StoreSpend
from costtrail.export.prometheus import LedgerMetrics
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import LedgerStore
from costtrail.optimize.cheapest import cheapest_model
from costtrail.optimize.evals import EvalResult, import_evals
from costtrail.optimize.traffic import TrafficScope
from costtrail.optimize.trends import drift, forecast
from costtrail.optimize.whatif import what_if
from costtrail.schema import Event

CONTROLS = ControlsConfig.from_yaml(
    """
budgets:
  - {name: prod-month, scope: {environment: production}, limit_usd: 9}
  - {name: acme-hour, scope: {tenant_id: acme}, period: rolling, window: 1h, limit_usd: 1}
  - name: hooli-tokens
    scope: {tenant_id: hooli, workflow: support_reply}
    period: week
    limit_tokens: 900000
alerts: {log: false}
"""
)


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, priced_module: list[Event]
) -> Iterator[list[LedgerStore]]:
    chdb_dir: Path = tmp_path_factory.mktemp("chdb")
    duck = DuckDBStore(":memory:")
    click = ClickHouseStore.from_url(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:12]}")
    for s in (duck, click):
        s.append_events(priced_module)
    yield [duck, click]
    click.command(f"DROP DATABASE IF EXISTS `{click.target.database}`")
    click.close()
    duck.close()


@pytest.fixture(scope="module")
def priced_module(background_events: list[Event]) -> list[Event]:
    from costtrail.pricing import Pricer

    rng = random.Random(9)
    extra = [
        Event(provider="openai", model="gpt-4o-mini", workflow="support_reply", run_id="loop", step="draft",
              tenant_id="hooli", environment="production", input_tokens=2000, output_tokens=300,
              retry_count=i, status="retry", started_at=NOW - timedelta(hours=2) + timedelta(seconds=5 * i))
        for i in range(50)
    ]  # fmt: skip
    yesterday = (NOW - timedelta(days=1)).replace(hour=0, minute=0)
    for i in range(50):
        extra += make_run(rng, "doc_extract", f"umb-{i}", "umbrella", yesterday + timedelta(minutes=25 * i))
    return [*background_events, *Pricer().apply(extra)]


def test_budget_spend_guardrails_and_alerts_agree(stores: list[LedgerStore]) -> None:
    results = []
    for store in stores:
        gate = BudgetGate(CONTROLS.budgets, source=StoreSpend(store), clock=lambda: NOW)
        status = [(s.name, s.spent) for s in gate.status()]
        alerts = run_guardrails(store, CONTROLS, NOW)
        sink = LedgerAlertSink(store)
        for a in alerts:
            sink.send(a)
        stored = read_alerts(store, since=NOW - timedelta(days=1))
        results.append(
            (status, sorted((a.key, str(a.evidence)) for a in alerts), sorted(r["dedup_key"] for r in stored))
        )
    assert results[0] == results[1]
    status, alerts, stored = results[0]
    assert all(spent > 0 for _, spent in status)
    assert {k.split(":")[0] for k, _ in alerts} >= {"retry_loop", "tenant_anomaly"}
    assert stored == sorted(k for k, _ in alerts)


def test_optimize_agrees(stores: list[LedgerStore]) -> None:
    scope = TrafficScope(workflow="support_reply", since=NOW - timedelta(days=10), until=NOW)
    evals = [
        EvalResult(
            workflow="support_reply", model=m, eval_date=date(2026, 3, 1), pass_rate=r, avg_output_tokens=350
        )
        for m, r in (("gpt-4o-mini", 0.92), ("gpt-4.1-nano", 0.85), ("claude-haiku-4-5", 0.95))
    ]
    out = []
    for store in stores:
        import_evals(store, evals)
        w = what_if(store, scope, "claude-haiku-4-5", provider="anthropic")
        c = cheapest_model(store, scope, min_pass_rate=0.8)
        d = drift(store, scope)
        f = forecast(store, NOW, CONTROLS.budgets)
        metrics = LedgerMetrics(store)
        metrics.refresh()
        out.append((w.rows(), c.as_dict(), d["series"], f, metrics.metrics.render()))
    assert out[0] == out[1]
    assert out[0][1]["chosen_model"] == "gpt-4.1-nano"
    assert out[0][0][0]["what_if"] > out[0][0][0]["current"] > Decimal(0)
