"""Bad input and bad keys get a clear JSON error; nothing accepted before is lost."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from tests.collector.conftest import RunningCollector

from costtrail.auth import DEMO_KEY, KeyRing
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings

GOOD = [
    {"event_id": f"keep-{i}", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10}
    for i in range(3)
]


@pytest.fixture
def seeded(collector: RunningCollector) -> RunningCollector:
    with collector.client(collector.ingest) as http:
        assert http.post("/v1/events", json=GOOD).json()["accepted"] == 3
    return collector


def _error(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error: dict[str, str] = r.json()["error"]
    assert error["message"]
    return error


def test_every_bad_request_is_a_clear_json_error_and_loses_nothing(seeded: RunningCollector) -> None:
    c = seeded
    with c.client(c.ingest) as http:
        malformed = http.post(
            "/v1/events", content=b'[{"model": "gpt-4o-mini",', headers={"Content-Type": "application/json"}
        )
        assert "not valid JSON" in _error(malformed, 400)["message"]
        bad_line = http.post(
            "/v1/events",
            content=b'{"model": "a"}\n{oops}\n',
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert _error(bad_line, 400)["field"] == "line 2"
        wrong_type = http.post("/v1/events", json=42)
        assert _error(wrong_type, 422)["field"] == "(body)"
        too_big = http.post("/v1/events", content=b"[" + b" " * (300 * 1024) + b"]")
        assert "split it" in _error(too_big, 413)["message"]
        bomb = gzip.compress(b"[" + b" " * (2 * 1024 * 1024) + b"]")
        assert _error(http.post("/v1/events", content=bomb, headers={"Content-Encoding": "gzip"}), 413)
        bad_gzip = http.post("/v1/events", content=b"not gzip", headers={"Content-Encoding": "gzip"})
        assert _error(bad_gzip, 400)["field"] == "Content-Encoding"
        many = http.post("/v1/events", json=[{}] * 2001)
        assert _error(many, 413)["code"] == "too_many_records"
        empty = http.post("/v1/events", content=b"")
        assert _error(empty, 400)["code"] == "empty_body"
        assert _error(http.post("/v1/traces", content=b"\xff\x00garbage"), 400)["code"] == "malformed_otlp"
        assert _error(http.get("/v1/report"), 403)["code"] == "insufficient_scope"
    with c.client(None) as http:
        assert _error(http.post("/v1/events", json=GOOD), 401)["code"] == "missing_api_key"
        assert _error(http.get("/v1/nowhere"), 404)["code"] == "not_found"
    with c.client("ct_0000_wrong") as http:
        r = http.post("/v1/events", json=GOOD)
        assert _error(r, 401)["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
    with c.client(c.read) as http:
        assert _error(http.post("/v1/events", json=GOOD), 403)["code"] == "insufficient_scope"
    with c.client(c.acme_ingest) as http:
        foreign = http.post("/v1/events", json=[{**GOOD[0], "event_id": "x", "tenant_id": "globex"}])
        assert _error(foreign, 422)["field"] == "tenant_id"
    with c.client(c.acme_read) as http:
        assert _error(http.get("/v1/report", params={"tenant": "globex"}), 403)["code"] == "unknown_tenant"
    with c.client(c.read) as http:
        assert _error(http.get("/v1/report", params={"since": "last tuesday"}), 422)["field"] == "since"
    ids = {r["event_id"] for r in c.store.query("SELECT event_id FROM events")}
    assert ids == {"keep-0", "keep-1", "keep-2"}


def test_revoked_key_is_refused_on_the_next_request(collector: RunningCollector) -> None:
    key = collector.keys.create("ingest")  # type: ignore[arg-type]
    with collector.client(key.token) as http:
        assert http.post("/v1/events", json=GOOD[:1]).status_code == 200
        other_process_ring = KeyRing(collector.keys.path, secret=b"test-secret" * 3)
        assert other_process_ring.revoke(key.key.key_id)
        assert http.post("/v1/events", json=GOOD[:1]).status_code == 401


def test_keys_file_holds_no_plaintext(collector: RunningCollector) -> None:
    assert collector.keys.path is not None
    text = collector.keys.path.read_text()
    for token in (collector.ingest, collector.admin, collector.acme_read):
        assert token not in text
        assert token.split("_", 2)[2] not in text
    assert json.loads(text)["keys"][0]["digest"]


def test_demo_key_works_only_in_demo_mode(tmp_path: object) -> None:
    store = DuckDBStore(":memory:")
    for demo, status in ((True, 200), (False, 401)):
        ring = KeyRing(None, secret=b"s" * 32, demo=demo)
        with BackgroundServer(create_app(Settings(ledger=":memory:"), store, keys=ring)) as server:
            r = httpx.post(
                f"{server.url}/v1/events", json=GOOD[:1], headers={"Authorization": f"Bearer {DEMO_KEY}"}
            )
            assert r.status_code == status
    store.close()
