"""Providers are stored as genai-prices' provider ids, the value as sent kept in ``provider_raw``.

Through the real door: ``POST /v1/events`` on a collector over HTTP, then ``GET /v1/report``.
"""

from __future__ import annotations

import json
from decimal import Decimal

from genai_prices import Usage, calc_price
from tests.collector.conftest import RunningCollector

ONE = calc_price(Usage(input_tokens=10_000), "gpt-4o-mini", provider_id="openai").total_price  # $0.0015


def test_three_spellings_of_openai_are_one_report_row(collector: RunningCollector) -> None:
    spellings = ["OpenAI", " openai ", "azure_openai"]
    batch = [
        {"event_id": f"p{i}", "provider": p, "model": "gpt-4o-mini", "input_tokens": 10_000,
         "started_at": "2026-06-01T10:00:00Z"}
        for i, p in enumerate(spellings)
    ]  # fmt: skip
    with collector.client(collector.ingest) as http:
        assert http.post("/v1/events", json=batch).json()["accepted"] == 3
    with collector.client(collector.read) as http:
        report = http.get("/v1/report", params={"by": "provider", "metrics": "total_cost,events"}).json()
    assert [(r["provider"], r["events"]) for r in report["rows"]] == [("openai", 3)]
    assert Decimal(report["rows"][0]["total_cost"]) == 3 * ONE
    stored = collector.store.query("SELECT provider, attributes FROM events ORDER BY event_id")
    raw = sorted(json.loads(r["attributes"])["provider_raw"] for r in stored)
    assert raw == sorted(spellings) and {r["provider"] for r in stored} == {"openai"}
