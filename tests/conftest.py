"""Shared fixtures: real stores, nothing mocked that runs on this machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from costtrail.ledger.duckdb_store import DuckDBStore


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    yield s
    s.close()
