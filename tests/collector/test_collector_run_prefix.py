"""The read API and the dashboard take a run id by unique prefix; an ambiguous one gets the candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from tests.collector.conftest import RunningCollector

from costtrail.schema import Event

RUNS = [
    "0b7c9e4d1f2a4e6b8c0d2f4a6b8c0d2e",
    "0b7c9e4d1f2a4e6b8c0d2f4a6b8c0d2f",
    "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
]


def _load(collector: RunningCollector) -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    collector.store.append_events(
        [
            Event.parse(
                {
                    "event_id": f"e-{i}",
                    "run_id": run,
                    "workflow": "support_reply",
                    "tenant_id": "acme" if i < 2 else "globex",
                    "started_at": start + timedelta(minutes=i),
                    "provider": "openai",
                    "model": "gpt-4o",
                    "cost_usd": Decimal("0.01"),
                }
            )
            for i, run in enumerate(RUNS)
        ]
    )


def test_a_unique_prefix_reads_the_run_and_a_shared_one_lists_candidates(collector: RunningCollector) -> None:
    _load(collector)
    with collector.client(collector.read) as http:
        one = http.get("/v1/runs/5e6f7a8b")
        shared = http.get("/v1/runs/0b7c9e4d1f2a")
        none = http.get("/v1/runs/ffff")
    assert one.status_code == 200 and one.json()["run_id"] == RUNS[2]
    assert shared.status_code == 409
    assert shared.json()["error"]["code"] == "ambiguous_run_id"
    assert shared.json()["candidates"] == RUNS[:2]
    assert none.status_code == 404
    with collector.client(collector.acme_read) as http:
        theirs = http.get("/v1/runs/5e6f")  # globex's run: not found for an acme key, not even its id
    assert theirs.status_code == 404


def test_the_dashboard_run_url_takes_a_prefix(collector: RunningCollector) -> None:
    _load(collector)
    with httpx.Client(base_url=collector.url, follow_redirects=False) as http:
        assert http.post("/login", data={"key": collector.read, "next": "/"}).status_code == 303
        page = http.get("/runs/5e6f7a8b")
        shared = http.get("/runs/0b7c9e4d1f2a")
    assert page.status_code == 200 and f"Run {RUNS[2]}" in page.text
    assert shared.status_code == 200
    assert RUNS[0] in shared.text and RUNS[1] in shared.text and RUNS[2] not in shared.text
