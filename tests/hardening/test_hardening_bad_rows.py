"""A bad row fails only its own request, with a 422 naming the field (issue hardening-2: 2, 4, 7, 12).

Everything goes through ``costtrail serve`` as a user starts it. The values are
the ones that got through before: an offset time whose UTC value is past year
9999 failed the shared group commit (503 for other clients' batches);
``latency_ms: Infinity`` or a BIGINT-sized token count was stored and broke
later reads; a cost that rounds up past the ledger's column, JSON nested 5,000
deep, ``unpriced: "yes"``, ``input_tokens: true`` and a truncated gzip body
were accepted or answered 500.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.hardening.hardening_procs import CollectorProcess

from costtrail.auth import KeyRing, Scope

NOW = "2026-05-01T12:00:00+00:00"
JSON = "application/json"


class Served:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("bad-rows")
    ledger = root / "ledger.duckdb"
    token = KeyRing.for_ledger(str(ledger)).create(Scope.ADMIN, label="bad rows").token
    collector = CollectorProcess(ledger, root / "collector.log").start()
    try:
        yield Served(collector.url, token)
    finally:
        collector.stop()


def _event(marker: str, i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"{marker}-{i}",
        "kind": "llm",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "workflow": f"flow-{marker}",
        "run_id": f"{marker}-run-{i % 3}",
        "started_at": NOW,
        "input_tokens": 100,
        "output_tokens": 10,
        **extra,
    }


def _events_in(client: httpx.Client, workflow: str) -> int:
    report = client.get("/v1/report", params={"by": "workflow", "where": f"workflow:{workflow}"})
    assert report.status_code == 200, report.text
    return sum(int(r["events"]) for r in report.json()["rows"])


@pytest.mark.parametrize(
    "started_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"], ids=["past-9999", "before-1"]
)
def test_a_poison_event_fails_only_its_own_batch_under_concurrency(served: Served, started_at: str) -> None:
    clients, batches, size = 8, 10, 20
    codes: dict[str, list[int]] = {}
    bad_answers: list[httpx.Response] = []
    marker = f"poison{started_at[:4]}"
    start = threading.Barrier(clients + 1)

    def valid(c: int) -> None:
        with served.client() as client:
            start.wait()
            for b in range(batches):
                body = [_event(f"{marker}c{c}", b * size + i) for i in range(size)]
                codes.setdefault(f"c{c}", []).append(client.post("/v1/events", json=body).status_code)

    def poison() -> None:
        with served.client() as client:
            start.wait()
            for b in range(batches):
                body = [_event(f"{marker}bad", b, started_at=started_at)]
                bad_answers.append(client.post("/v1/events", json=body))

    threads = [threading.Thread(target=valid, args=(c,)) for c in range(clients)]
    threads.append(threading.Thread(target=poison))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(code_list == [200] * batches for code_list in codes.values()), codes
    assert len(codes) == clients
    assert [r.status_code for r in bad_answers] == [422] * batches
    assert {r.json()["rejected"][0]["field"] for r in bad_answers} == {"started_at"}
    assert "1970-01-01 to 2999-12-31" in bad_answers[0].json()["error"]["message"]
    with served.client() as client:
        for c in range(clients):
            assert _events_in(client, f"flow-{marker}c{c}") == batches * size


# Raw JSON text, so that Infinity, NaN and 1e400 reach the collector as sent.
UNSTORABLE = [
    ("latency_ms", '"latency_ms": Infinity'),
    ("latency_ms", '"latency_ms": 1e400'),
    ("latency_ms", '"latency_ms": NaN'),
    ("input_tokens", '"input_tokens": 9223372036854775807'),
    ("output_tokens", '"output_tokens": 9007199254740992'),  # 2**53: one past the documented bound
    ("cost_usd", '"cost_usd": "999999.9999999999999"'),  # rounds to 1,000,000 at 12 places
    ("unpriced", '"unpriced": "yes"'),
    ("input_tokens", '"input_tokens": true'),
    ("started_at", '"started_at": "9999-12-31T23:59:59-01:00"'),
    ("ended_at", '"ended_at": "9999-12-31T23:30:00-01:00"'),
]


@pytest.mark.parametrize(("field", "member"), UNSTORABLE, ids=[m for _, m in UNSTORABLE])
def test_values_the_ledger_cannot_hold_are_refused_by_name(served: Served, field: str, member: str) -> None:
    body = '[{"kind": "llm", "model": "gpt-4o-mini", "started_at": "2026-05-01T00:00:00Z", ' + member + "}]"
    with served.client() as client:
        answer = client.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rejected"][0]["field"] == field
    assert answer.json()["error"]["field"] == field


def test_values_at_the_bounds_are_stored_and_read_back(served: Served) -> None:
    at_bound = _event("bound", 0, input_tokens=2**53 - 1, latency_ms=1e15, cost_usd="999999.999999999999")
    with served.client() as client:
        answer = client.post("/v1/events", json=[at_bound, {**at_bound, "event_id": "bound-1"}])
        assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.text
        metrics = "total_input_tokens,avg_input_tokens,avg_latency_ms,p95_latency_ms"
        for path in ("/v1/report?view=workflow", f"/v1/report?by=model&metrics={metrics}"):
            assert client.get(path).status_code == 200, path


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/v1/events", _deep(5000), "application/json"),
        ("/v1/outcomes", _deep(5000), "application/json"),
        ("/v1/cost-lines", _deep(5000), "application/json"),
        ("/v1/events", '{"model": "m", "attributes": ' + '{"a": ' * 1000 + "1" + "}" * 1001, JSON),
        ("/v1/events", '{"model": "m", "tags": ' + _deep(1000) + "}\n", "application/x-ndjson"),
        ("/v1/traces", '{"resourceSpans": ' + _deep(1000) + "}", "application/json"),
    ],
    ids=["events", "outcomes", "cost-lines", "attributes", "ndjson", "otlp-json"],
)
def test_json_nested_deep_is_refused_before_parsing(
    served: Served, path: str, body: str, content_type: str
) -> None:
    with served.client() as client:
        answer = client.post(path, content=body, headers={"Content-Type": content_type})
        assert 400 <= answer.status_code < 500, answer.text
        if path != "/v1/traces":  # OTLP answers in its own shape
            assert answer.json()["error"]["field"] == "(body)"
        assert "64 levels" in answer.text
        assert client.get("/healthz").status_code == 200


def test_a_truncated_gzip_body_is_refused(served: Served) -> None:
    whole = gzip.compress(json.dumps([_event("gz", i) for i in range(50)]).encode())
    with served.client() as client:
        cut = client.post(
            "/v1/events",
            content=whole[:-8],  # the trailer (CRC and length) lost in transit
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert cut.status_code == 400, cut.text
        assert cut.json()["error"]["field"] == "Content-Encoding"
        assert "truncated" in cut.json()["error"]["message"]
        assert _events_in(client, "flow-gz") == 0
        sent = client.post(
            "/v1/events", content=whole, headers={"Content-Encoding": "gzip", "Content-Type": JSON}
        )
        assert sent.status_code == 200 and sent.json()["accepted"] == 50
