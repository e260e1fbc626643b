"""Issue #20's ingest row: one-hour cache writes over HTTP land in their column, priced at their rate."""

from __future__ import annotations

import json
from decimal import Decimal

from genai_prices import Usage, calc_price
from tests.collector.conftest import RunningCollector

EVENT = {
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "started_at": "2026-05-01T12:00:00+00:00",
    "input_tokens": 9000,
    "cache_write_tokens": 8000,
    "cache_write_1h_tokens": 8000,
    "output_tokens": 500,
}


def test_one_hour_cache_writes_over_json_and_ndjson(collector: RunningCollector) -> None:
    with collector.client(collector.ingest) as http:
        assert http.post("/v1/events", json=[{**EVENT, "event_id": "e-json"}]).json()["accepted"] == 1
        body = json.dumps({**EVENT, "event_id": "e-ndjson"}) + "\n"
        r = http.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert r.json()["accepted"] == 1, r.text
    rows = collector.store.query("SELECT cache_write_1h_tokens, cost_usd, attributes FROM events")
    usage = Usage(input_tokens=9000, cache_write_tokens=8000, cache_write_1h_tokens=8000, output_tokens=500)
    want = calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic").total_price
    assert [(r["cache_write_1h_tokens"], r["cost_usd"]) for r in rows] == [(8000, want)] * 2
    assert all("cache_write_1h" not in (r["attributes"] or "") for r in rows)  # not lost in attributes
    assert want == Decimal("0.0585")
