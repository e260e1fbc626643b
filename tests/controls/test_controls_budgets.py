"""Budgets: config validation, the gate's arithmetic, periods, concurrency, spend loaded from the ledger."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costtrail.controls.budgets import BudgetGate
from costtrail.controls.chain import build_controls
from costtrail.controls.config import BudgetConfig, ControlsConfig, ControlsConfigError
from costtrail.controls.gate import RequestContext
from costtrail.controls.spend import StoreSpend
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def D(x: str) -> Decimal:
    return Decimal(x)


PROD = RequestContext(environment="production", tenant_id="acme", workflow="support_reply")


def test_yaml_errors_name_file_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "controls.yaml"
    f.write_text(
        "budgets:\n  - name: a\n    limit_usd: 5\n  - name: b\n    scope: {region: eu}\n    limit_usd: -1\n"
    )
    with pytest.raises(ControlsConfigError) as err:
        ControlsConfig.load(f)
    text = str(err.value)
    assert f"{f}:5: budgets[1] (name 'b').scope: unknown scope field(s) ['region']" in text
    assert f"{f}:6: budgets[1] (name 'b').limit_usd: Input should be greater than 0" in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{name: x}", "set exactly one of limit_usd or limit_tokens"),
        ("{name: x, limit_usd: 1, limit_tokens: 5}", "set exactly one of limit_usd or limit_tokens"),
        ("{name: x, limit_usd: 1, period: rolling}", "a rolling budget needs window"),
        ("{name: x, limit_usd: 1, period: rolling, window: 5 minutes}", "is not a duration"),
        ("{name: x, limit_usd: 1, window: 1h}", "window applies only to period: rolling"),
        ("{name: x, limit_usd: 1, action: deny}", "Input should be 'block' or 'alert'"),
        ("{name: x, limit_usd: 1, period: year}", "Input should be 'day', 'week', 'month' or 'rolling'"),
        ("{name: x, limit_usd: 1, thresholds: [0, 50]}", "thresholds are percents"),
    ],
)
def test_invalid_budgets_are_rejected_with_the_fix(body: str, message: str) -> None:
    with pytest.raises(ControlsConfigError, match=message.replace("(", r"\(")):
        ControlsConfig.from_yaml(f"budgets:\n  - {body}\n")


def test_duplicate_budget_names_rejected() -> None:
    with pytest.raises(ControlsConfigError, match="repeated: \\['a'\\]"):
        ControlsConfig.from_yaml("budgets: [{name: a, limit_usd: 1}, {name: a, limit_usd: 2}]")


def test_scope_any_combination_matches_only_its_traffic() -> None:
    cfg = ControlsConfig.from_yaml(
        """
budgets:
  - {name: acme-support, scope: {tenant_id: acme, workflow: support_reply}, limit_usd: 1}
  - {name: staging, scope: {environment: staging}, limit_usd: 1}
  - {name: acct, scope: {provider_account: proj-1, team: search, customer_id: c9, feature: f}, limit_usd: 1}
"""
    )
    gate = BudgetGate(cfg.budgets, clock=Clock(datetime(2026, 3, 1, tzinfo=UTC)))
    gate.settle(gate.reserve(PROD, D("0")), D("1"))
    assert not gate.reserve(PROD, D("0.01")).allowed
    other = RequestContext(environment="production", tenant_id="acme", workflow="doc_extract")
    assert gate.reserve(other, D("0.5")).allowed
    full = RequestContext(provider_account="proj-1", team="search", customer_id="c9", feature="f")
    assert gate.reserve(full, D("0.9")).allowed
    assert not gate.reserve(full, D("0.2")).allowed  # 0.9 reserved + 0.2 > 1
    partial = RequestContext(provider_account="proj-1", team="search", customer_id="c9")
    assert gate.reserve(partial, D("5")).allowed  # no budget covers it


def test_greater_or_equal_means_exhausted() -> None:
    clock = Clock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    gate = BudgetGate([BudgetConfig(name="b", limit_usd=D("1.00"))], clock=clock)
    d = gate.reserve(PROD, D("1.00"))  # exactly fits: committed + estimate <= limit
    assert d.allowed
    gate.settle(d, D("1.00"))
    status = gate.status()[0]
    assert status.exhausted and status.remaining == 0 and status.projected_exhaustion == clock.at
    denied = gate.reserve(PROD, D("0"))  # spend >= limit denies even a free request
    assert not denied.allowed
    assert denied.rule == "b" and denied.limit_usd == D("1.00") and denied.spend_usd == D("1.00")
    assert "budget 'b' is exhausted: spend $1.00 of limit $1.00" in denied.reason
    assert denied.retry_after_s == 21 * 86400 + 12 * 3600  # until 2026-04-01 00:00
    assert denied.error_body()["type"] == "budget_exceeded"


def test_reservations_hold_room_and_release_on_failure() -> None:
    gate = BudgetGate(
        [BudgetConfig(name="b", limit_usd=D("1"))], clock=Clock(datetime(2026, 3, 1, tzinfo=UTC))
    )
    first = gate.reserve(PROD, D("0.6"))
    assert first.allowed and gate.in_flight() == 1
    second = gate.reserve(PROD, D("0.5"))
    assert not second.allowed and "has no room for this request" in second.reason
    gate.settle(first, None)  # the call failed before costing anything
    assert gate.status()[0].spent == 0 and gate.in_flight() == 0
    assert gate.reserve(PROD, D("0.5")).allowed


def test_calendar_period_rollover() -> None:
    clock = Clock(datetime(2026, 3, 10, 23, 59, tzinfo=UTC))
    gate = BudgetGate([BudgetConfig(name="daily", period="day", limit_usd=D("1"))], clock=clock)
    late = gate.reserve(PROD, D("0.2"))  # in flight across midnight
    gate.settle(gate.reserve(PROD, D("0.8")), D("0.8"))
    denied = gate.reserve(PROD, D("0.1"))
    assert denied.rule == "daily" and denied.retry_after_s == 60
    clock.at += timedelta(minutes=1)  # a new day: the daily budget starts again
    gate.settle(late, D("0.2"))  # yesterday's request settles into yesterday, not today
    assert gate.status()[0].spent == 0 and gate.status()[0].reserved == 0
    d = gate.reserve(PROD, D("1"))
    assert d.allowed
    gate.settle(d, D("1"))
    assert gate.reserve(PROD, D("0.5")).rule == "daily"


def test_rolling_window_expires_spend() -> None:
    clock = Clock(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    gate = BudgetGate([BudgetConfig(name="r", period="rolling", window="1h", limit_usd=D("1"))], clock=clock)
    gate.settle(gate.reserve(PROD, D("0.6")), D("0.6"))
    clock.at += timedelta(minutes=30)
    gate.settle(gate.reserve(PROD, D("0.4")), D("0.4"))
    denied = gate.reserve(PROD, D("0.1"))
    assert not denied.allowed and denied.retry_after_s == 30 * 60
    clock.at += timedelta(minutes=31)
    assert gate.status()[0].spent == D("0.4")
    assert gate.reserve(PROD, D("0.5")).allowed


def test_token_budget_counts_tokens() -> None:
    gate = BudgetGate(
        [BudgetConfig(name="t", limit_tokens=10_000)], clock=Clock(datetime(2026, 3, 1, tzinfo=UTC))
    )
    ctx = RequestContext(environment="dev", estimated_tokens=6_000)
    d = gate.reserve(ctx, D("99"))  # the USD estimate does not count against a token budget
    assert d.allowed
    gate.settle(d, D("0.01"), actual_tokens=7_000)
    denied = gate.reserve(ctx, D("0"))
    assert not denied.allowed and denied.unit == "tokens" and denied.spend_usd == 7000
    assert "spend 7000 tokens of limit 10000 tokens" in denied.reason


def test_alert_budgets_never_block_but_alert_at_thresholds() -> None:
    cfg = ControlsConfig.from_yaml(
        "budgets: [{name: watch, limit_usd: 10, action: alert, thresholds: [50, 80, 100]}]\n"
        "alerts: {log: false}"
    )
    controls = build_controls(cfg, clock=Clock(datetime(2026, 3, 1, tzinfo=UTC)))
    for cost in ("4", "2", "5"):
        d = controls.gate.reserve(PROD, D(cost))
        assert d.allowed
        controls.gate.settle(d, D(cost))
    sent = [(a.kind, a.evidence["threshold_pct"]) for a in controls.alerts.sent]
    assert sent == [("budget_threshold", 50), ("budget_threshold", 100)]  # 40% -> 60% -> 110%


def test_blocked_budget_alerts_once_per_period() -> None:
    cfg = ControlsConfig.from_yaml(
        "budgets: [{name: b, limit_usd: 1, thresholds: [100]}]\nalerts: {log: false}"
    )
    controls = build_controls(cfg, clock=Clock(datetime(2026, 3, 1, tzinfo=UTC)))
    controls.gate.settle(controls.gate.reserve(PROD, D("1")), D("1"))
    for _ in range(5):
        assert not controls.gate.reserve(PROD, D("0.1")).allowed
    kinds = [a.kind for a in controls.alerts.sent]
    assert kinds == ["budget_threshold", "budget_blocked"]


def test_concurrent_reservations_never_exceed_the_limit() -> None:
    gate = BudgetGate(
        [BudgetConfig(name="b", limit_usd=D("1.00"))], clock=Clock(datetime(2026, 3, 1, tzinfo=UTC))
    )
    admitted: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            d = gate.reserve(PROD, D("0.013"))
            if d.allowed:
                gate.settle(d, D("0.012"))  # the estimate is an upper bound
            with lock:
                admitted.append(d.allowed)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = gate.status()[0].spent
    assert spent <= D("1.00")
    assert spent > D("1.00") - D("0.013")  # and the budget was used up, not starved
    assert sum(admitted) == spent / D("0.012")


def test_spend_loaded_once_from_the_ledger(store: DuckDBStore) -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    store.append_events(
        [
            Event(
                model="m",
                environment="production",
                tenant_id="acme",
                cost_usd=D("0.40"),
                cost_source="reported",
                started_at=day + timedelta(hours=1),
            ),
            Event(
                model="m",
                environment="production",
                tenant_id="acme",
                input_tokens=500,
                output_tokens=100,
                cost_usd=D("0.35"),
                cost_source="reported",
                started_at=day + timedelta(hours=11, minutes=50),
            ),
            Event(
                model="m",
                environment="staging",
                cost_usd=D("5"),
                cost_source="reported",
                started_at=day + timedelta(hours=2),
            ),
            Event(
                model="m",
                environment="production",
                cost_usd=D("9"),
                cost_source="reported",
                started_at=day - timedelta(hours=1),
            ),  # yesterday: another period
        ]
    )
    budgets = [
        BudgetConfig(name="prod-day", scope={"environment": "production"}, period="day", limit_usd=D("1")),
        BudgetConfig(
            name="acme-30m", scope={"tenant_id": "acme"}, period="rolling", window="30m", limit_usd=D("1")
        ),
        BudgetConfig(name="acme-tokens", scope={"tenant_id": "acme"}, period="month", limit_tokens=1000),
    ]
    clock = Clock(day + timedelta(hours=12))
    gate = BudgetGate(budgets, source=StoreSpend(store), clock=clock)
    spent = {s.name: s.spent for s in gate.status()}
    assert spent == {"prod-day": D("0.75"), "acme-30m": D("0.35"), "acme-tokens": D("600")}
    status = {s.name: s for s in gate.status()}["prod-day"]
    assert status.remaining == D("0.25")
    assert status.burn_per_hour == D("0.0625")  # $0.75 over 12 hours
    assert status.projected_exhaustion == clock.at + timedelta(hours=4)
