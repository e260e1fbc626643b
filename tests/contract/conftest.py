"""The store contract: the same tests run on DuckDB, on ClickHouse (the real engine, in-process via
chdb) and on a ClickHouse cluster of one local shard (Distributed tables over local ones, GLOBAL
subqueries, synchronous distributed inserts: the cluster code paths, with DuckDB's answers).

One chdb engine per test module (its start-up is the slow part), opened with
tests/clickhouse_cluster.xml so that it knows the clusters; each test gets its
own database in it, so tests stay independent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import LedgerStore

STORES = ("duckdb", "clickhouse", "cluster")
CLUSTER_CONFIG = Path(__file__).resolve().parents[1] / "clickhouse_cluster.xml"


@pytest.fixture(scope="module")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


def open_test_store(kind: str, chdb_dir: Path) -> LedgerStore:
    if kind == "duckdb":
        return DuckDBStore(":memory:")
    url = f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:12]}&config={CLUSTER_CONFIG}"
    return ClickHouseStore.from_url(url + ("&cluster=one" if kind == "cluster" else ""))


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


@pytest.fixture(params=STORES[1:])
def both(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[tuple[LedgerStore, LedgerStore]]:
    """A DuckDB and a ClickHouse store (single server, then a cluster), compared side by side."""
    duck, click = open_test_store("duckdb", chdb_dir), open_test_store(request.param, chdb_dir)
    yield duck, click
    drop_store(duck)
    drop_store(click)


@pytest.fixture(scope="module", params=STORES[1:])
def module_pair(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[tuple[LedgerStore, LedgerStore]]:
    """Like ``both`` but shared by a module's tests (load once, query many times)."""
    duck, click = open_test_store("duckdb", chdb_dir), open_test_store(request.param, chdb_dir)
    yield duck, click
    drop_store(duck)
    drop_store(click)
