"""A real collector on 127.0.0.1 over a DuckDB file, with real keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from costtrail.auth import KeyRing, Scope
from costtrail.collector import Limits, create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings


@dataclass
class RunningCollector:
    url: str
    store: DuckDBStore
    keys: KeyRing
    ingest: str
    read: str
    admin: str
    acme_ingest: str
    acme_read: str

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    ledger = tmp_path / "ledger.duckdb"
    store = DuckDBStore(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    tokens = {
        "ingest": keys.create(Scope.INGEST).token,
        "read": keys.create(Scope.READ).token,
        "admin": keys.create(Scope.ADMIN).token,
        "acme_ingest": keys.create(Scope.INGEST, tenant="acme").token,
        "acme_read": keys.create(Scope.READ, tenant="acme").token,
    }
    limits = Limits(max_body_bytes=256 * 1024, max_decoded_bytes=1024 * 1024, max_records=2000)
    app = create_app(Settings(ledger=str(ledger)), store, keys=keys, limits=limits)
    with BackgroundServer(app) as server:
        yield RunningCollector(url=server.url, store=store, keys=keys, **tokens)
    store.close()
