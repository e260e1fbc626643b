"""A real collector on 127.0.0.1 for OTLP exports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings


@dataclass
class OtlpCollector:
    url: str
    store: DuckDBStore
    key: str


@pytest.fixture
def otlp_collector(tmp_path: Path) -> Iterator[OtlpCollector]:
    store = DuckDBStore(tmp_path / "otlp.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"otlp-secret" * 3)
    token = keys.create(Scope.INGEST).token
    app = create_app(Settings(ledger=str(tmp_path / "otlp.duckdb")), store, keys=keys)
    with BackgroundServer(app) as server:
        yield OtlpCollector(server.url, store, token)
    store.close()
