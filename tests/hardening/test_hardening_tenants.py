"""Tenant isolation: a key bound to tenant acme never reads or writes a row of tenant globex.

Every read route (``/v1/report`` with every dimension, view and filter,
``/v1/runs``), every dashboard page reachable by following links (drill-downs
and CSV downloads included) and the ingest paths (events, outcomes, cost
lines, OTLP) are tried with acme's keys; globex's rows carry markers that
must never appear in an answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports.views import VIEWS
from costtrail.schema import DIMENSIONS
from costtrail.settings import Settings

# Globex's data carries SECRET in every value a caller never names in a request (model, agent, step,
# feature, user, tool): an answer that shows any of globex's rows shows it. Names a hostile caller
# asks for (globex-run-1, globex-cust-1, globex_flow) may be echoed back in URLs or error messages.
SECRET = "Zq9x"
MARKERS = (SECRET, SECRET.lower())
NOW = time.time()


@dataclass
class Tenants:
    url: str
    store: DuckDBStore
    admin: str
    acme_read: str
    acme_ingest: str
    globex_ingest: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _events(tenant: str | None, n: int, *, marker: str) -> list[dict[str, Any]]:
    tag = f"{marker}-{SECRET}" if marker == "globex" else marker
    out = []
    for i in range(n):
        event: dict[str, Any] = {
            "kind": "llm",
            "provider": "openai",
            "model": "gpt-4o-mini" if i % 2 else f"{tag}-ft-model",
            "workflow": f"{marker}_flow" if i % 3 else "support_reply",  # one workflow name is shared
            "run_id": f"{marker}-run-{i % 4}",
            "agent": f"{tag}-agent",
            "step": f"{tag}-step-{i % 2}",
            "customer_id": f"{marker}-cust-{i % 3}",
            "feature": f"{tag}-feature",
            "user_id": f"{tag}-user",
            "environment": "prod",
            "input_tokens": 1000 + i,
            "output_tokens": 100,
            "cost_usd": "0.25",
            "started_at": NOW - 3600 * (i % 48),
            "tool_name": f"{tag}-tool",
        }
        if tenant is not None:
            event["tenant_id"] = tenant
        out.append(event)
    return out


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[Tenants]:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"t" * 32)
    made = Tenants(
        url="",
        store=store,
        admin=keys.create(Scope.ADMIN).token,
        acme_read=keys.create(Scope.READ, tenant="acme", label="acme reader").token,
        acme_ingest=keys.create(Scope.INGEST, tenant="acme").token,
        globex_ingest=keys.create(Scope.INGEST, tenant="globex").token,
    )
    app = create_app(Settings(ledger=str(tmp_path / "ledger.duckdb")), store, keys=keys)
    with BackgroundServer(app) as server:
        made.url = server.url
        with made.client(made.acme_ingest) as c:
            c.post("/v1/events", json=_events(None, 30, marker="acme")).raise_for_status()
        with made.client(made.globex_ingest) as c:
            c.post("/v1/events", json=_events(None, 30, marker="globex")).raise_for_status()
            outcomes = [
                {"run_id": f"globex-run-{i}", "outcome": f"won-{SECRET}", "success": True} for i in range(4)
            ]
            c.post("/v1/outcomes", json=outcomes).raise_for_status()
        with made.client(made.admin) as c:
            # A run id both tenants used: its total would reveal globex's spend.
            shared = _events("acme", 1, marker="acme") + _events("globex", 1, marker="globex")
            for e in shared:
                e["run_id"] = "shared-run"
            c.post("/v1/events", json=shared).raise_for_status()
        yield made
    store.close()


def _leaks(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


def test_report_api_with_every_dimension_and_filter(tenants: Tenants) -> None:
    acme_total = Decimal("0.25") * 31
    with tenants.client(tenants.acme_read) as c:
        for dimension in sorted(DIMENSIONS):
            r = c.get("/v1/report", params={"by": dimension, "since": "30d"})
            assert r.status_code in (200, 422), (dimension, r.text)
            assert not _leaks(r.text), (dimension, r.text[:500])
        hostile = [
            {"by": "tenant_id"},
            {"by": "workflow", "where": "tenant_id:globex"},
            {"by": "customer_id", "where": "customer_id:globex-cust-1"},
            {"by": "run_id", "where": "run_id:globex-run-1"},
            {"by": "model", "where": ["tenant_id:globex", "tenant_id:acme"]},
        ]
        for params in hostile:
            r = c.get("/v1/report", params={**params, "since": "30d"})
            assert r.status_code == 200, r.text
            assert not _leaks(r.text), (params, r.text[:500])
            assert not any("globex" in str(v) for row in r.json()["rows"] for v in row.values()), params
        rows = c.get("/v1/report", params={"by": "tenant_id", "since": "30d"}).json()["rows"]
        assert [row["tenant_id"] for row in rows] == ["acme"]
        assert Decimal(str(rows[0]["total_cost"])) == acme_total
        forbidden = c.get("/v1/report", params={"by": "workflow", "tenant": "globex"})
        assert forbidden.status_code == 403 and forbidden.json()["error"]["field"] == "tenant"
        for view in VIEWS:
            r = c.get("/v1/report", params={"view": view, "since": "30d"})
            assert not _leaks(r.text), (view, r.text[:500])


def test_run_drill_down(tenants: Tenants) -> None:
    with tenants.client(tenants.acme_read) as c:
        assert c.get("/v1/runs/acme-run-1").status_code == 200
        for run in ("globex-run-1", "shared-run"):
            r = c.get(f"/v1/runs/{run}")
            assert r.status_code == 404 and not _leaks(r.text), r.text
    with tenants.client(tenants.admin) as c:
        assert c.get("/v1/runs/shared-run").status_code == 200  # the run exists: acme just may not see it


def _crawl(client: httpx.Client, starts: list[str], limit: int = 250) -> dict[str, httpx.Response]:
    seen: dict[str, httpx.Response] = {}
    queue = list(starts)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        seen[path] = response
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        for href in re.findall(r'href="([^"#]+)"', response.text):
            target = urljoin(path, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc or parts.path in ("/logout", "/login") or parts.path.startswith("/assets"):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def test_dashboard_pages_drill_downs_and_csv(tenants: Tenants) -> None:
    with httpx.Client(base_url=tenants.url, timeout=60, follow_redirects=False) as c:
        signed_in = c.post("/login", data={"key": tenants.acme_read, "next": "/"})
        assert signed_in.status_code == 303
        starts = [
            "/",
            "/workflows",
            "/runs",
            "/customers",
            "/models",
            "/alerts",
            "/finance",
            "/workflows/globex_flow",
            "/workflows/support_reply",
            "/runs/globex-run-1",
            "/runs/shared-run",
            "/?tenant=globex",
            "/customers?customer=globex-cust-1",
            "/runs?workflow=globex_flow&since=30d",
        ]
        pages = _crawl(c, starts)
        downloads = [p for p in pages if "download=" in p]
        assert len(pages) > 10 and downloads, sorted(pages)
        for path, response in pages.items():
            assert response.status_code < 500, (path, response.text[:300])
            assert not _leaks(response.text), (path, response.text[:800])
        acme_pages = [p for p, r in pages.items() if "acme" in r.text]
        assert acme_pages, "the crawl never showed acme's own data"
        focus = c.get("/finance/focus.csv")
        assert focus.status_code == 403 and not _leaks(focus.text)


def test_ingest_keys_cannot_write_for_another_tenant(tenants: Tenants) -> None:
    before = tenants.store.query("SELECT count(*) AS n FROM events WHERE tenant_id = 'globex'")[0]["n"]
    with tenants.client(tenants.acme_ingest) as c:
        r = c.post("/v1/events", json=_events("globex", 3, marker="acme-posing"))
        assert r.status_code == 422
        assert {p["field"] for p in r.json()["rejected"]} == {"tenant_id"}
        mixed = c.post(
            "/v1/events", json=_events("acme", 1, marker="acme2") + _events("globex", 1, marker="x")
        )
        assert mixed.json()["accepted"] == 1 and mixed.json()["rejected"][0]["index"] == 1
        r = c.post(
            "/v1/outcomes",
            json=[{"run_id": "globex-run-1", "outcome": "x", "success": True, "tenant_id": "globex"}],
        )
        assert r.status_code == 422 and r.json()["rejected"][0]["field"] == "tenant_id"
        line = {
            "source": "x",
            "charge_period_start": "2026-03-01",
            "charge_period_end": "2026-03-02",
            "billed_cost": "1",
        }
        r = c.post("/v1/cost-lines", json=[line])
        assert r.status_code == 422  # cost lines are finance data: no tenant key writes them
        otlp = _otlp_span(tenant="globex")
        r = c.post("/v1/traces", json=otlp)
        assert r.status_code == 200 and r.json().get("partialSuccess", {}).get("rejectedSpans") in (1, "1")
        assert c.get("/v1/report", params={"by": "workflow"}).status_code == 403  # ingest keys cannot read
    with tenants.client(tenants.acme_read) as c:
        assert c.post("/v1/events", json=_events(None, 1, marker="acme3")).status_code == 403
    after = tenants.store.query("SELECT count(*) AS n FROM events WHERE tenant_id = 'globex'")[0]["n"]
    assert after == before
    assert tenants.store.query("SELECT count(*) AS n FROM events WHERE tenant_id IS NULL")[0]["n"] == 0


def _otlp_span(tenant: str) -> dict[str, Any]:
    def attr(key: str, value: Any) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: str(value)}}

    start = int(NOW * 1e9)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "posing")]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "chat gpt-4o-mini",
                                "kind": 3,
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start + 10**9),
                                "attributes": [
                                    attr("gen_ai.operation.name", "chat"),
                                    attr("gen_ai.provider.name", "openai"),
                                    attr("gen_ai.request.model", "gpt-4o-mini"),
                                    attr("gen_ai.usage.input_tokens", 10),
                                    attr("gen_ai.usage.output_tokens", 5),
                                    attr("costtrail.tenant_id", tenant),
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_metrics_need_an_untenanted_read_key(tenants: Tenants) -> None:
    with tenants.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with tenants.client(tenants.acme_read) as c:
        r = c.get("/metrics")
        assert r.status_code == 403 or not _leaks(r.text)
