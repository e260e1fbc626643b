"""Fixtures for the controls tests: a priced background of normal traffic in a fresh ledger."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from controls_traffic import background

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer
from costtrail.schema import Event


@pytest.fixture(scope="session")
def priced() -> Callable[[list[Event]], list[Event]]:
    return Pricer().apply


@pytest.fixture(scope="session")
def background_events(priced: Callable[[list[Event]], list[Event]]) -> list[Event]:
    return priced(background(random.Random(7)))


@pytest.fixture
def ledger(background_events: list[Event]) -> Iterator[DuckDBStore]:
    """A fresh in-memory ledger holding only the background."""
    store = DuckDBStore(":memory:")
    store.append_events(background_events)
    yield store
    store.close()
