"""The store contract: the same tests run on DuckDB and on ClickHouse (the real engine, in-process via chdb).

One chdb engine per test module (its start-up is the slow part); each test gets
its own database in it, so tests stay independent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import LedgerStore

STORES = ("duckdb", "clickhouse")


@pytest.fixture(scope="module")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


def open_test_store(kind: str, chdb_dir: Path) -> LedgerStore:
    if kind == "duckdb":
        return DuckDBStore(":memory:")
    return ClickHouseStore.from_url(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:12]}")


def drop_store(store: LedgerStore) -> None:
    if isinstance(store, ClickHouseStore):
        store.command(f"DROP DATABASE IF EXISTS `{store.target.database}`")
    store.close()


@pytest.fixture(params=STORES)
def ledger(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[LedgerStore]:
    """Each contract test runs once per store."""
    s = open_test_store(request.param, chdb_dir)
    yield s
    drop_store(s)


@pytest.fixture
def both(chdb_dir: Path) -> Iterator[tuple[LedgerStore, LedgerStore]]:
    """A DuckDB and a ClickHouse store, for tests that compare results side by side."""
    duck, click = open_test_store("duckdb", chdb_dir), open_test_store("clickhouse", chdb_dir)
    yield duck, click
    drop_store(duck)
    drop_store(click)


@pytest.fixture(scope="module")
def module_pair(chdb_dir: Path) -> Iterator[tuple[LedgerStore, LedgerStore]]:
    """Like ``both`` but shared by a module's tests (load once, query many times)."""
    duck, click = open_test_store("duckdb", chdb_dir), open_test_store("clickhouse", chdb_dir)
    yield duck, click
    drop_store(duck)
    drop_store(click)
