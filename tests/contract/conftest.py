"""The store contract: the same tests run on DuckDB and on ClickHouse (the real engine, in-process via chdb).

One chdb engine per test module (its start-up is the slow part); each test gets
its own database in it, so tests stay independent.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, Event, Outcome

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


T0 = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)  # crosses a day and a month boundary


def sample_events(n: int = 400, seed: int = 7) -> list[Event]:
    """A realistic mix: tenants, workflows, runs with retries, failures, unpriced calls, odd strings."""
    rng = random.Random(seed)
    workflows = ["support_reply", "summarize", "it's \\tricky", "检索"]
    events: list[Event] = []
    for i in range(n):
        run = i // 4
        status = rng.choice(["success"] * 6 + ["retry", "failure", "timeout"])
        priced = rng.random() > 0.05
        events.append(
            Event.parse(
                {
                    "event_id": f"evt-{seed}-{i}" if i % 3 else uuid.UUID(int=seed * 100_000 + i).hex,
                    "started_at": (T0 + timedelta(minutes=7 * i)).isoformat(),
                    "latency_ms": round(rng.uniform(50, 4000), 3),
                    "workflow": workflows[run % len(workflows)] if i % 17 else None,
                    "run_id": f"run-{run}",
                    "step": rng.choice(["plan", "retrieve", "answer"]),
                    "agent": rng.choice(["router", "writer"]),
                    "status": status,
                    "retry_count": 1 if status == "retry" else 0,
                    "provider": "openai",
                    "model": rng.choice(["gpt-4o-mini", "gpt-4o"]),
                    "input_tokens": rng.randint(10, 5000),
                    "output_tokens": rng.randint(1, 800),
                    "tool_calls": rng.randint(0, 2),
                    "tool_name": rng.choice([None, "search", "sql"]),
                    "tenant_id": rng.choice(["acme", "globex", None]),
                    "customer_id": f"cust-{rng.randint(1, 9)}",
                    "feature": rng.choice(["chat", "search", "o'reilly"]),
                    "environment": rng.choice(["prod", "staging"]),
                    "cost_usd": str(Decimal(rng.randint(1, 10**9)).scaleb(-12)) if priced else None,
                    "attributes": {"ticket": str(rng.randint(1, 50))} if i % 5 == 0 else {},
                }
            )
        )
    return events


def sample_outcomes(events: list[Event]) -> list[Outcome]:
    runs = sorted({e.run_id for e in events if e.run_id})
    return [
        Outcome.parse(
            {
                "outcome_id": f"out-{run}",
                "run_id": run,
                "outcome": "ticket_resolved",
                "success": k % 3 != 0,
                "value_usd": str(Decimal(k).scaleb(-2)),
                "recorded_at": (T0 + timedelta(hours=k)).isoformat(),
                "tenant_id": "acme" if k % 2 else "globex",
            }
        )
        for k, run in enumerate(runs)
    ]


def sample_cost_lines() -> list[CostLine]:
    return [
        CostLine(
            source="openai-costs-api",
            charge_period_start=T0 + timedelta(days=d),
            charge_period_end=T0 + timedelta(days=d + 1),
            billed_cost=Decimal("12.345678901234") * (d + 1),
            provider="openai",
            model=model,
            tags={"team": "search"},
        )
        for d in range(3)
        for model in ("gpt-4o", "gpt-4o-mini")
    ]
