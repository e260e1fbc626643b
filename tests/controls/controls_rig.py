"""The real gateway (uvicorn on 127.0.0.1) before the fake provider, with controls on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.waiting import wait_until

from costtrail.collector.server import BackgroundServer
from costtrail.controls.chain import Controls, build_controls
from costtrail.controls.config import ControlsConfig
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.sink import QueuedSink
from costtrail.settings import Settings

CONTROLS = """
budgets:
  - name: prod-daily-dollar
    scope: {environment: production}
    period: day
    limit_usd: 1.00
    owner: sre@example.com
guardrails:
  retry_loop: {max_events: 8, window_minutes: 10, block: true}
alerts: {log: false}
"""
MESSAGES: Any = [{"role": "user", "content": "Summarise ticket 4411 for the customer, politely."}]
HEADERS = {"X-Costtrail-Environment": "production", "X-Fake-Output-Tokens": "1000"}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Gateway:
    url: str
    store: DuckDBStore
    sink: QueuedSink
    clock: Clock
    controls: Controls
    fake: FakeProvider

    def events(self, n: int) -> list[dict[str, Any]]:
        """The stored events, once ``n`` were recorded (the gateway records after the response)."""
        # received counts a submitted event; its reservation is settled right after.
        wait_until(
            lambda: self.sink.stats()["received"] >= n and not self.controls.budgets.in_flight(),
            20,
            interval=0.005,
        )
        assert self.sink.flush(20)
        rows = self.store.query("SELECT * FROM events ORDER BY started_at")
        assert len(rows) == n
        return rows


def running_gateway(controls_yaml: str = CONTROLS) -> Iterator[Gateway]:
    with FakeProvider() as fake:
        store = DuckDBStore(":memory:")
        sink = QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05)
        clock = Clock(datetime(2026, 3, 12, 12, 0, tzinfo=UTC))
        controls = build_controls(ControlsConfig.from_yaml(controls_yaml), store, clock=clock)
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url, "anthropic": fake.base_url})
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink, gate=controls.gate)
        server = BackgroundServer(app).start()
        try:
            yield Gateway(server.url, store, sink, clock, controls, fake)
        finally:
            server.stop()
            sink.close(5)
            store.close()
