"""``gateway.server.serve`` owns the sink it is given: whatever ends the server, the sink is flushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from costtrail.gateway import GatewayConfig
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
