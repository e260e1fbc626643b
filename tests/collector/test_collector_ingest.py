"""POST /v1/events, /v1/outcomes, /v1/cost-lines over real HTTP into a DuckDB file."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

from tests.collector.conftest import RunningCollector

T0 = "2026-05-01T12:00:00+00:00"


def _event(i: int, **extra: object) -> dict[str, object]:
    return {
        "event_id": f"evt-{i}",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "started_at": T0,
        "input_tokens": 1000 + i,
        "output_tokens": 200,
        "workflow": "support_reply",
        "run_id": f"run-{i % 3}",
        **extra,
    }


def _stored(collector: RunningCollector) -> int:
    return int(collector.store.query("SELECT count(*) AS n FROM events")[0]["n"])


def test_json_batch_is_priced_exactly_and_durable_when_acknowledged(collector: RunningCollector) -> None:
    batch = [_event(i) for i in range(10)]
    with collector.client(collector.ingest) as http:
        r = http.post("/v1/events", json=batch)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 10, "duplicates": 0, "unpriced": 0, "rejected": []}
    # The answer came after the commit: the rows are readable at once.
    rows = collector.store.query("SELECT input_tokens, cost_usd FROM events ORDER BY input_tokens")
    assert len(rows) == 10
    assert rows[0]["cost_usd"] == Decimal("0.00027")  # 1000 * 0.15/1M + 200 * 0.60/1M


def test_gzip_ndjson_and_resend_counts_duplicates(collector: RunningCollector) -> None:
    body = gzip.compress("\n".join(json.dumps(_event(i)) for i in range(5)).encode())
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    with collector.client(collector.ingest) as http:
        first = http.post("/v1/events", content=body, headers=headers)
        again = http.post("/v1/events", content=body, headers=headers)
    assert first.json()["accepted"] == 5
    assert again.json() == {"accepted": 0, "duplicates": 5, "unpriced": 0, "rejected": []}
    assert _stored(collector) == 5


def test_bad_records_are_named_and_good_ones_kept(collector: RunningCollector) -> None:
    batch = [_event(1), _event(2, input_tokens="lots"), {"kind": "llm", "provider": "openai"}, 7]
    with collector.client(collector.ingest) as http:
        r = http.post("/v1/events", json=batch)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    rejected = {(p["index"], p["field"]) for p in body["rejected"]}
    assert (1, "input_tokens") in rejected
    assert any(p["index"] == 2 and "model is required" in p["reason"] for p in body["rejected"])
    assert any(p["index"] == 3 and "JSON object" in p["reason"] for p in body["rejected"])


def test_a_batch_with_nothing_valid_is_422_naming_the_field(collector: RunningCollector) -> None:
    with collector.client(collector.ingest) as http:
        r = http.post("/v1/events", json=[_event(1, started_at="yesterday-ish")])
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "started_at"
    assert r.json()["rejected"][0]["index"] == 0


def test_outcomes_and_cost_lines(collector: RunningCollector) -> None:
    outcome = {"run_id": "run-1", "workflow": "support_reply", "outcome": "resolved", "success": True}
    line = {
        "source": "openai-invoice",
        "charge_period_start": "2026-05-01T00:00:00Z",
        "charge_period_end": "2026-05-02T00:00:00Z",
        "billed_cost": "12.345678",
    }
    with collector.client(collector.ingest) as http:
        assert http.post("/v1/outcomes", json=[outcome]).json()["accepted"] == 1
        assert http.post("/v1/cost-lines", json=[line]).json()["accepted"] == 1
        assert http.post("/v1/cost-lines", json=[line]).json()["duplicates"] == 1
    with collector.client(collector.acme_ingest) as http:
        r = http.post("/v1/cost-lines", json=[line])
    assert r.status_code == 422 and "tenant" in r.json()["rejected"][0]["reason"]
    stored = collector.store.query("SELECT billed_cost FROM cost_lines")
    assert stored == [{"billed_cost": Decimal("12.345678")}]


def test_tenant_key_fills_its_tenant_and_refuses_another(collector: RunningCollector) -> None:
    batch = [_event(1), _event(2, tenant_id="acme"), _event(3, tenant_id="globex")]
    with collector.client(collector.acme_ingest) as http:
        r = http.post("/v1/events", json=batch)
    body = r.json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {
            "index": 2,
            "field": "tenant_id",
            "reason": "unknown tenant 'globex' for this key: it may only write tenant 'acme' "
            "(omit tenant_id, or use that tenant's key)",
        }
    ]
    tenants = collector.store.query("SELECT DISTINCT tenant_id FROM events")
    assert tenants == [{"tenant_id": "acme"}]


def test_read_api_report_and_run(collector: RunningCollector) -> None:
    with collector.client(collector.ingest) as http:
        http.post("/v1/events", json=[_event(i, tenant_id="acme" if i % 2 else "globex") for i in range(6)])
        http.post("/v1/outcomes", json=[{"run_id": "run-1", "outcome": "resolved", "success": True}])
    with collector.client(collector.read) as http:
        report = http.get("/v1/report", params={"by": "workflow,tenant_id", "since": "2026-04-01"}).json()
        only = http.get("/v1/report", params={"by": "tenant_id", "where": "tenant_id:acme"}).json()
        run = http.get("/v1/runs/run-1").json()
        bad_by = http.get("/v1/report", params={"by": "colour"})
        bad_since = http.get("/v1/report", params={"since": "last tuesday"})
        missing = http.get("/v1/runs/nope")
    assert report["by"] == ["workflow", "tenant_id"]
    assert {r["tenant_id"] for r in report["rows"]} == {"acme", "globex"}
    total = sum(Decimal(r["total_cost"]) for r in report["rows"])
    stored_total = collector.store.query("SELECT sum(cost_usd) AS s FROM events")[0]["s"]
    assert total == stored_total
    assert [r["tenant_id"] for r in only["rows"]] == ["acme"]
    run_costs = collector.store.query("SELECT cost_usd FROM events WHERE run_id='run-1'")
    assert Decimal(run["total_cost"]) == sum((r["cost_usd"] for r in run_costs), Decimal(0))
    assert len(run["steps"]) == 2 and run["outcomes"][0]["outcome"] == "resolved"
    assert bad_by.status_code == 422 and bad_by.json()["error"]["field"] == "by"
    assert bad_since.status_code == 422 and bad_since.json()["error"]["field"] == "since"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"
    with collector.client(collector.acme_read) as http:
        mine = http.get("/v1/report", params={"by": "tenant_id"}).json()
        theirs = http.get("/v1/report", params={"tenant": "globex"})
        mixed_run = http.get("/v1/runs/run-0")  # run-0 holds evt-0 (globex) and evt-3 (acme)
    assert [r["tenant_id"] for r in mine["rows"]] == ["acme"]
    assert theirs.status_code == 403 and theirs.json()["error"]["code"] == "unknown_tenant"
    assert mixed_run.status_code == 404  # its total would reveal the other tenant's spend


def test_openapi_schema_lists_the_endpoints(collector: RunningCollector) -> None:
    with collector.client(None) as http:
        schema = http.get("/openapi.json").json()
    for path in (
        "/v1/events",
        "/v1/outcomes",
        "/v1/cost-lines",
        "/v1/traces",
        "/v1/report",
        "/v1/runs/{run_id}",
    ):
        assert path in schema["paths"]
    assert "application/x-ndjson" in schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]


def test_started_at_keeps_utc(collector: RunningCollector) -> None:
    with collector.client(collector.ingest) as http:
        http.post("/v1/events", json=[_event(1, started_at="2026-05-01T14:00:00+02:00")])
    row = collector.store.query("SELECT started_at FROM events")[0]
    assert row["started_at"] == datetime(2026, 5, 1, 12, 0, tzinfo=UTC).replace(tzinfo=None)
