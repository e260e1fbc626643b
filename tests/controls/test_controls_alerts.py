"""Alert sinks (log, webhook over real HTTP, the ledger's alerts table), cooldown, request-path guards."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from costtrail.controls.alerts import Alert, AlertDispatcher, LedgerAlertSink, LogSink, read_alerts
from costtrail.controls.chain import build_controls
from costtrail.controls.config import ControlsConfig, RetryLoopConfig
from costtrail.controls.gate import RequestContext
from costtrail.controls.runloop import RunLoopGuard
from costtrail.controls.webhook import WebhookSink
from costtrail.ledger.duckdb_store import DuckDBStore

T0 = datetime(2026, 3, 12, 12, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def alert(key: str = "retry_loop:r1", at: datetime = T0) -> Alert:
    return Alert(
        kind="retry_loop",
        key=key,
        title="run r1 is looping",
        message="run 'r1' made 60 calls",
        severity="critical",
        scope={"workflow": "support_reply"},
        evidence={"run_id": "r1", "events": 60, "cost_usd": Decimal("0.123456789")},
        raised_at=at,
    )


class Receiver:
    """A real HTTP server on 127.0.0.1 collecting POSTed JSON bodies."""

    def __init__(self) -> None:
        bodies: list[Any] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers["Content-Length"])
                bodies.append((self.headers["Content-Type"], json.loads(self.rfile.read(n))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        self.bodies = bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-path"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhook_json_and_slack_payloads(receiver: Receiver) -> None:
    plain = WebhookSink(receiver.url)
    slack = WebhookSink(receiver.url, format="slack")
    plain.send(alert())
    slack.send(alert())
    plain.close()
    slack.close()
    assert plain.delivered == 1 and slack.delivered == 1
    by_shape = {("text" in body): (ctype, body) for ctype, body in receiver.bodies}
    ctype, body = by_shape[False]
    assert ctype == "application/json"
    assert body["kind"] == "retry_loop" and body["evidence"]["cost_usd"] == "0.123456789"
    assert body["raised_at"] == "2026-03-12T12:00:00+00:00"
    _, message = by_shape[True]
    assert message["text"] == ":rotating_light: run r1 is looping"
    assert "• run_id: r1" in message["blocks"][1]["text"]["text"]


def test_webhook_failure_is_counted_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    sink = WebhookSink("http://127.0.0.1:9/hooks/T000/B000/XXXX", timeout_s=0.5)
    with caplog.at_level(logging.WARNING, "costtrail.alerts"):
        sink.send(alert())
        sink.close()
    assert sink.failed == 1 and sink.delivered == 0
    assert "webhook to 127.0.0.1:9 failed" in caplog.text and "XXXX" not in caplog.text


def test_cooldown_deduplicates_across_sinks_and_restarts(store: DuckDBStore, receiver: Receiver) -> None:
    clock = Clock(T0)
    hook = WebhookSink(receiver.url)
    ledger = LedgerAlertSink(store)
    dispatcher = AlertDispatcher([LogSink(), ledger, hook], cooldown=timedelta(minutes=30), clock=clock)
    assert dispatcher.emit(alert(at=clock.at))
    clock.at += timedelta(minutes=10)
    assert not dispatcher.emit(alert(at=clock.at))
    assert dispatcher.emit(alert(key="retry_loop:r2", at=clock.at))
    # a restarted process reads the cooldown back from the ledger
    restarted = AlertDispatcher([ledger], cooldown=timedelta(minutes=30), clock=clock, history=ledger)
    assert not restarted.emit(alert(at=clock.at))
    clock.at += timedelta(minutes=21)
    assert restarted.emit(alert(at=clock.at))
    hook.close()
    assert len(receiver.bodies) == 2 and dispatcher.suppressed == 1
    rows = read_alerts(store)
    assert [r["dedup_key"] for r in rows] == [
        "retry_loop:r1",
        "retry_loop:r2",
        "retry_loop:r1",
    ]  # newest first
    assert rows[0]["evidence"] == {"run_id": "r1", "events": 60, "cost_usd": "0.123456789"}
    assert rows[0]["scope"] == {"workflow": "support_reply"}
    assert len(read_alerts(store, since=T0 + timedelta(minutes=5))) == 2
    assert read_alerts(store, kind="cost_spike") == []


def test_read_alerts_on_a_ledger_that_never_alerted(store: DuckDBStore) -> None:
    assert read_alerts(store) == []


def test_run_loop_guard_stops_the_run_then_lets_it_go() -> None:
    clock = Clock(T0)
    alerts = AlertDispatcher([], clock=clock)
    guard = RunLoopGuard(
        RetryLoopConfig(max_events=5, window_minutes=1, block=True), clock=clock, alerts=alerts
    )
    ctx = RequestContext(run_id="r1", workflow="support_reply")
    for _ in range(5):
        assert guard.reserve(ctx, Decimal(0)).allowed
        clock.at += timedelta(seconds=1)
    denied = guard.reserve(ctx, Decimal(0))
    assert not denied.allowed and denied.kind == "retry_loop" and denied.scope == {"run_id": "r1"}
    assert denied.retry_after_s == 60
    assert guard.reserve(RequestContext(run_id="r2"), Decimal(0)).allowed  # other runs pass
    clock.at += timedelta(seconds=30)
    assert not guard.reserve(ctx, Decimal(0)).allowed
    clock.at += timedelta(seconds=31)
    assert guard.reserve(ctx, Decimal(0)).allowed
    assert [a.evidence["events"] for a in alerts.sent] == [6]


def test_slow_runs_are_not_stopped() -> None:
    clock = Clock(T0)
    guard = RunLoopGuard(RetryLoopConfig(max_events=5, window_minutes=1, block=True), clock=clock)
    for _ in range(50):
        assert guard.reserve(RequestContext(run_id="r1"), Decimal(0)).allowed
        clock.at += timedelta(seconds=13)


def test_model_policy_reject_reroute_alert(store: DuckDBStore) -> None:
    config = ControlsConfig.from_yaml(
        """
model_policies:
  - {name: support, scope: {workflow: support_reply}, allowed_models: [gpt-4o-mini], action: reject}
  - {name: docs, scope: {feature: documents}, max_output_usd_per_mtok: 6, action: reroute,
     reroute_to: claude-haiku-4-5}
  - {name: chat, scope: {feature: chat}, allowed_models: ["gpt-4o*"], action: alert}
budgets: [{name: all, limit_usd: 100}]
alerts: {log: false}
"""
    )
    controls = build_controls(config, store, clock=Clock(T0))
    gate = controls.gate
    denied = gate.reserve(
        RequestContext(workflow="support_reply", provider="openai", model="gpt-4o"), Decimal(1)
    )
    assert not denied.allowed and denied.kind == "model_policy" and denied.rule == "support"
    assert "model 'gpt-4o' is not in the allowed models ['gpt-4o-mini']" in denied.reason
    assert controls.budgets.in_flight() == 0  # nothing reserved for a rejected call
    rerouted = gate.reserve(
        RequestContext(feature="documents", provider="anthropic", model="claude-sonnet-4-5"), Decimal(1)
    )
    assert rerouted.allowed and rerouted.reroute_model == "claude-haiku-4-5"
    assert "costs $15.000000/Mtok output, above the cap $6" in rerouted.reason
    gate.settle(rerouted, Decimal("0.5"))
    assert controls.budgets.status()[0].spent == Decimal("0.5")
    ok = gate.reserve(
        RequestContext(feature="documents", provider="anthropic", model="claude-haiku-4-5"), Decimal(0)
    )
    assert ok.allowed and ok.reroute_model is None
    alerted = gate.reserve(
        RequestContext(feature="chat", provider="anthropic", model="claude-opus-4-1"), Decimal(0)
    )
    assert alerted.allowed
    kinds = [(r["kind"], json.loads(json.dumps(r["evidence"]))["policy"]) for r in read_alerts(store)]
    assert sorted(kinds) == [("model_policy", "chat"), ("model_policy", "docs"), ("model_policy", "support")]
