"""SDK fixtures: the fake provider over real HTTP, a recorder writing to a real DuckDB ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from tests.prices import genai_price

from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@dataclass
class Ledger:
    """A recorder and the store it writes to; ``events()`` flushes and reads them back."""

    recorder: Recorder
    store: DuckDBStore

    def events(self, where: str = "TRUE") -> list[dict[str, Any]]:
        assert self.recorder.flush(10.0), "flush timed out"
        return self.store.query(f"SELECT * FROM events WHERE {where} ORDER BY started_at")

    def outcomes(self) -> list[dict[str, Any]]:
        assert self.recorder.flush(10.0)
        return self.store.query("SELECT * FROM outcomes ORDER BY recorded_at")


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    store = DuckDBStore(":memory:")
    sink = QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05)
    recorder = Recorder(sink, defaults={"environment": "test"})
    yield Ledger(recorder, store)
    recorder.close()
    store.close()


@pytest.fixture
def expected_cost() -> Callable[..., Decimal]:
    return genai_price
