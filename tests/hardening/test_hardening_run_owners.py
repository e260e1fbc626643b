"""A run belongs to the tenant that first wrote it (issue hardening-2, finding 5).

Before: tenant-01's ingest key posted a failed event naming a tenant-02
``run_id``; tenant-02 then got 404 on its own run (a run holding another
tenant's event is hidden from tenant keys) and its success counts changed.
Through ``costtrail serve``: such records are refused with 403 naming
``run_id``, on ``/v1/events`` and ``/v1/outcomes``; the rest of a batch is kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hardening_procs import CollectorProcess

from costtrail.auth import KeyRing, Scope


@dataclass
class Tenants:
    url: str
    one: str  # tenant-01's ingest key
    two: str  # tenant-02's ingest key
    two_read: str

    def post(self, token: str, path: str, body: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            self.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def read(self, path: str, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.two_read}"}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=60)


@pytest.fixture
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    root = tmp_path_factory.mktemp("run-owners")
    ledger = root / "ledger.duckdb"
    ring = KeyRing.for_ledger(str(ledger))
    made = Tenants(
        "",
        ring.create(Scope.INGEST, tenant="tenant-01").token,
        ring.create(Scope.INGEST, tenant="tenant-02").token,
        ring.create(Scope.READ, tenant="tenant-02").token,
    )
    collector = CollectorProcess(ledger, root / "collector.log").start()
    made.url = collector.url
    try:
        yield made
    finally:
        collector.stop()


def _event(event_id: str, run_id: str, status: str = "success") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "workflow": "support_reply",
        "run_id": run_id,
        "status": status,
        "input_tokens": 100,
        "output_tokens": 10,
        "started_at": time.time() - 60,
    }


def _runs(tenants: Tenants) -> tuple[int, int]:
    rows = tenants.read("/v1/report", by="workflow", metrics="successful_runs,failed_runs").json()["rows"]
    return sum(int(r["successful_runs"]) for r in rows), sum(int(r["failed_runs"]) for r in rows)


def test_another_tenant_cannot_write_to_a_run(tenants: Tenants) -> None:
    own = [_event(f"t2-{i}", f"t2-run-{i % 3}") for i in range(9)]
    assert tenants.post(tenants.two, "/v1/events", own).json()["accepted"] == 9
    before = _runs(tenants)
    assert before == (3, 0)

    # tenant-01 names tenant-02's run: refused by name, with 403 when nothing else was sent.
    forged = tenants.post(tenants.one, "/v1/events", [_event("t1-x", "t2-run-0", status="failure")])
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"]["code"] == "run_of_another_tenant"
    assert forged.json()["rejected"][0]["field"] == "run_id"
    # In a batch with its own records, only that record is refused.
    mixed = tenants.post(
        tenants.one, "/v1/events", [_event("t1-a", "t1-run"), _event("t1-b", "t2-run-1", status="error")]
    )
    assert mixed.status_code == 200
    assert mixed.json()["accepted"] == 1
    assert [(p["index"], p["field"]) for p in mixed.json()["rejected"]] == [(1, "run_id")]
    outcome = tenants.post(
        tenants.one, "/v1/outcomes", [{"run_id": "t2-run-2", "outcome": "ticket_resolved", "success": False}]
    )
    assert outcome.status_code == 403, outcome.text
    assert outcome.json()["rejected"][0]["field"] == "run_id"

    # tenant-02 still sees its runs, and its counts did not change.
    assert _runs(tenants) == before
    for i in range(3):
        assert tenants.read(f"/v1/runs/t2-run-{i}").status_code == 200
    # First writer wins the other way round too: tenant-01's new run is tenant-01's.
    late = tenants.post(tenants.two, "/v1/events", [_event("t2-late", "t1-run")])
    assert late.status_code == 403
    # A run's own tenant keeps writing to it (and its later batches are not refused).
    more = tenants.post(tenants.two, "/v1/events", [_event("t2-more", "t2-run-0")])
    assert more.status_code == 200 and more.json()["accepted"] == 1
