"""Invoices through the read API and the dashboard's Billing page, on a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event, Outcome
from costtrail.settings import Settings

PLANS = """
default_plan: pro
plans:
  - name: pro
    charges:
      - {name: usage, metric: cost, markup_pct: 100}
      - {name: resolved, metric: "outcome:ticket_resolved", unit_price: "0.25"}
"""


@dataclass
class Server:
    url: str
    read: str
    tenant_read: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    store = DuckDBStore(tmp_path / "l.duckdb")
    at = datetime(2026, 11, 10, tzinfo=UTC)
    events = [("a1", "acme", "r1", "0.30"), ("a2", "acme", "r2", "0.20"), ("g1", "globex", None, "1.00")]
    store.append_events(
        [
            Event(event_id=e, model="gpt-4o", customer_id=c, run_id=r, started_at=at, cost_usd=Decimal(cost))
            for e, c, r, cost in events
        ]
    )
    store.append_outcomes(
        [
            Outcome(run_id=r, outcome="ticket_resolved", success=True, customer_id="acme", recorded_at=at)
            for r in ("r1", "r2")
        ]
    )
    plans = tmp_path / "plans.yaml"
    plans.write_text(PLANS)
    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    read, tenant = keys.create(Scope.READ).token, keys.create(Scope.READ, tenant="acme").token
    app = create_app(Settings(ledger=str(tmp_path / "l.duckdb"), plans=plans), store, keys=keys)
    with BackgroundServer(app) as running:
        yield Server(running.url, read, tenant)
    store.close()


def _get(server: Server, path: str, token: str, **params: str) -> httpx.Response:
    return httpx.get(
        server.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_read_api_invoices_and_the_lines_behind(server: Server) -> None:
    body = _get(server, "/v1/invoices", server.read, period="2026-11").json()
    totals = {i["customer_id"]: i["total"] for i in body["invoices"]}
    # acme: $0.50 of cost x 2 + 2 resolutions x $0.25 = 1.00 + 0.50; globex: $1.00 x 2
    assert totals == {"acme": "1.50", "globex": "2.00"} and body["total"] == "3.50"
    acme = next(i for i in body["invoices"] if i["customer_id"] == "acme")
    assert acme["cost"] == "0.500000000000" and acme["margin"] == "1.000000000000"
    line = _get(server, "/v1/invoices/lines/2026-11:acme:resolved", server.read).json()
    assert (
        sorted(r["run_id"] for r in line["rows"]) == ["r1", "r2"]
        and line["metric"] == "outcome:ticket_resolved"
    )
    usage = _get(server, "/v1/invoices/lines/2026-11:acme:usage", server.read).json()
    assert sorted(r["id"] for r in usage["rows"]) == ["a1", "a2"]


def test_read_api_errors_name_the_field(server: Server) -> None:
    bad = _get(server, "/v1/invoices", server.read, period="November")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "period"
    missing = _get(server, "/v1/invoices", server.read, period="2026-11", customer="nobody")
    assert missing.status_code == 422 and "has no events in 2026-11" in missing.json()["error"]["message"]
    tenant = _get(server, "/v1/invoices", server.tenant_read, period="2026-11")
    assert tenant.status_code == 403


def test_billing_page_shows_invoices_margin_and_line_rows(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        assert browser.post("/login", data={"key": server.read, "next": "/"}).status_code == 303
        page = browser.get(
            "/billing", params={"since": "2026-11-01", "until": "2026-11-30", "hint_customer": "acme"}
        )
        assert page.status_code == 200
        html = page.text
        assert "Invoices 2026-11 (preview)" in html and "Invoice acme" in html
        assert "margin 66.67%" in html  # $1.00 margin on $1.50 billed
        assert "/billing/lines/2026-11%3Aacme%3Aresolved" in html
        rows = browser.get("/billing/lines/2026-11%3Aacme%3Aresolved")
        assert rows.status_code == 200 and "r1" in rows.text and "r2" in rows.text
