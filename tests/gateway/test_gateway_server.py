"""``gateway.server.serve`` owns the sink and the gate it is given: whatever ends the server, the sink
is flushed and the ledger the gate's budgets read is closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.controls.test_controls_shared_budget import start_redis
from tests.waiting import wait_until

from costtrail.gateway import GatewayConfig
from costtrail.gateway.assembly import GateOptions, GatewayGate
from costtrail.gateway.server import serve
from costtrail.ledger import open_store
from costtrail.pricing.rate_card import RateCardError
from costtrail.sdk import LedgerDestination, QueuedSink
from costtrail.settings import Settings


def test_a_gateway_that_cannot_start_still_flushes_and_closes_its_sink(tmp_path: Path) -> None:
    ledger = str(tmp_path / "gateway.duckdb")
    sink = QueuedSink(lambda: LedgerDestination(ledger), flush_interval=3600)
    assert sink.submit({"kind": "tool", "tool_name": "search", "query_count": 1})
    bad_card = tmp_path / "rates.yaml"
    bad_card.write_text("models: [1, 2\n")  # unclosed list: the rate card refuses it

    with pytest.raises(RateCardError):
        serve(Settings(ledger=ledger, rate_card=bad_card), GatewayConfig(), sink=sink, port=0)

    assert not sink.submit({"kind": "tool", "tool_name": "late"})  # closed: the server owned it
    store = open_store(ledger)
    try:
        assert store.query("SELECT tool_name, query_count FROM events") == [
            {"tool_name": "search", "query_count": 1}
        ]
    finally:
        store.close()


CONTROLS = """
budgets:
  - name: prod-daily
    scope: {environment: prod}
    period: day
    limit_usd: 1.00
    action: block
"""


def _another_process_can_write(ledger: str) -> bool:
    """DuckDB lets one process write a file: another can only while no store in this one holds it."""
    probe = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", ledger],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def test_a_gateway_that_stops_closes_the_ledger_its_budgets_read(tmp_path: Path) -> None:
    ledger = str(tmp_path / "spend.duckdb")
    open_store(ledger).close()
    controls = tmp_path / "controls.yaml"
    controls.write_text(CONTROLS)
    gate = GatewayGate.open(GateOptions(controls=controls, spend_from=ledger))
    assert not _another_process_can_write(ledger)  # the budgets' ledger is open in this process
    bad_card = tmp_path / "rates.yaml"
    bad_card.write_text("models: [1, 2\n")
    sink = QueuedSink(lambda: LedgerDestination(str(tmp_path / "events.duckdb")), flush_interval=3600)

    with pytest.raises(RateCardError):
        serve(Settings(rate_card=bad_card), GatewayConfig(), sink=sink, port=0, gate=gate)

    assert _another_process_can_write(ledger)


def test_a_gateway_that_stops_hangs_up_on_its_shared_budget_store(tmp_path: Path) -> None:
    redis, client, port = start_redis(tmp_path)
    try:
        alone = len(client.client_list())  # this test's own connection
        controls = tmp_path / "controls.yaml"
        controls.write_text(CONTROLS)
        gate = GatewayGate.open(GateOptions(controls=controls, budget_store=f"redis://127.0.0.1:{port}/0"))
        assert len(client.client_list()) > alone  # the budgets were seeded through their own connection
        bad_card = tmp_path / "rates.yaml"
        bad_card.write_text("models: [1, 2\n")
        sink = QueuedSink(lambda: LedgerDestination(str(tmp_path / "events.duckdb")), flush_interval=3600)

        with pytest.raises(RateCardError):
            serve(Settings(rate_card=bad_card), GatewayConfig(), sink=sink, port=0, gate=gate)

        wait_until(lambda: len(client.client_list()) == alone, timeout=10, message="the gateway to hang up")
    finally:
        client.close()
        redis.stop()
