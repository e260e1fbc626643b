"""The page cache: a second look is served from memory, and any change to the ledger rebuilds the page."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from tests.web.web_ledger import fill

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ingest import ingest_records
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer
from costtrail.settings import Settings


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[DuckDBStore, httpx.Client]]:
    store = DuckDBStore(tmp_path / "small.duckdb")
    fill(store, runs=40)
    ring = KeyRing(tmp_path / "keys.json", secret=b"cache-test-secret-0123456789")
    token = ring.create(Scope.READ).token
    app = create_app(Settings(ledger=store.url), store, keys=ring)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/login", data={"key": token, "next": "/"}).status_code == 303
        yield store, client
    store.close()


def _total(client: httpx.Client) -> tuple[Decimal, str]:
    response = client.get("/?range=all&download=movers-workflow")
    assert response.status_code == 200
    rows = [line.split(",") for line in response.text.splitlines()[1:]]
    page = client.get("/?range=all")
    return sum((Decimal(r[1]) for r in rows), Decimal(0)), page.headers["server-timing"]


def test_second_view_is_cached_and_an_ingest_rebuilds(small: tuple[DuckDBStore, httpx.Client]) -> None:
    store, client = small
    before, timing = _total(client)
    assert 'cache;desc="hit"' in timing  # the CSV download built the page; the HTML reused it
    event = {"model": "gpt-4o-mini", "provider": "openai", "workflow": "support_reply", "cost_usd": "1.25",
             "started_at": "2026-11-20T12:00:00Z", "run_id": "late-run"}  # fmt: skip
    assert ingest_records([event], store, Pricer()).accepted == 1
    after, timing = _total(client)
    assert after == before + Decimal("1.25")
