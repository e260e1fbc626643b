"""Fixtures for the controls tests: a priced background of normal traffic in a fresh ledger."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from tests.controls.controls_rig import Gateway, running_gateway
from tests.controls.controls_traffic import background

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


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """The gateway on 127.0.0.1 with a $1.00 daily production budget and a retry-loop stop."""
    yield from running_gateway()
