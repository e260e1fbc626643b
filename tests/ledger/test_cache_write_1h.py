"""``cache_write_1h_tokens`` is stored and priced by both stores, and added to ledgers made before it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from genai_prices import Usage, calc_price

from costtrail.ledger.clickhouse_schema import DDLOptions
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.columnar import event_batch
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.migrations import MIGRATIONS, apply_migrations
from costtrail.pricing import Pricer
from costtrail.schema import Event

# claude-sonnet-4-5: 1,000 fresh input at $3/M, 8,000 one-hour cache writes at $6/M, 500 output at $15/M
# = 0.003 + 0.048 + 0.0075 = $0.0585 (at the 5-minute rate, $3.75/M, it was $0.0405).
SONNET_1H = {
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "input_tokens": 9000,
    "cache_write_tokens": 8000,
    "cache_write_1h_tokens": 8000,
    "output_tokens": 500,
}


def _calc() -> Decimal:
    usage = Usage(input_tokens=9000, cache_write_tokens=8000, cache_write_1h_tokens=8000, output_tokens=500)
    return calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic").total_price


def test_priced_at_the_one_hour_rate_per_event_and_in_bulk() -> None:
    assert _calc() == Decimal("0.0585")
    pricer = Pricer()
    assert pricer.price(Event(**SONNET_1H)).cost_usd == _calc()
    table = pricer.price_table(event_batch([SONNET_1H]).table)
    assert table.column("cost_usd").to_pylist() == [_calc()]


def test_more_one_hour_writes_than_writes_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"cache_write_1h_tokens .* is more than cache_write_tokens"):
        Event(**{**SONNET_1H, "cache_write_tokens": 10})
    batch = event_batch([{**SONNET_1H, "cache_write_tokens": 10}])
    assert batch.table.num_rows == 0 and "cache_write_1h_tokens" in batch.problems[0].reason


def test_duckdb_ledger_written_before_the_column_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with DuckDBStore(path) as store:
        store.append_events(Pricer().apply([Event(provider="openai", model="gpt-4o", input_tokens=5)]))
    conn = duckdb.connect(str(path))
    conn.execute("ALTER TABLE events DROP COLUMN cache_write_1h_tokens")  # as an older costtrail made it
    conn.close()
    with DuckDBStore(path) as store:
        store.append_events(Pricer().apply([Event(**SONNET_1H)]))
        rows = store.query("SELECT model, cache_write_1h_tokens, cost_usd FROM events ORDER BY model")
    assert [(r["model"], r["cache_write_1h_tokens"]) for r in rows] == [
        ("claude-sonnet-4-5", 8000),
        ("gpt-4o", 0),
    ]
    assert rows[0]["cost_usd"] == _calc()


def test_clickhouse_migration_4_adds_the_column(chdb_dir: Path) -> None:
    database = f"m_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore.from_url(f"chdb://{chdb_dir}?database={database}")
    try:
        store.command(f"ALTER TABLE `{database}`.events DROP COLUMN cache_write_1h_tokens")
        store.command(f"ALTER TABLE `{database}`.costtrail_migrations DELETE WHERE version = 4")
        options = DDLOptions(database=database)
        assert 4 in [m.version for m in MIGRATIONS]
        assert apply_migrations(store, options) == [4]
        store.append_events(Pricer().apply([Event(**SONNET_1H)]))
        [row] = store.query("SELECT cache_write_1h_tokens, cost_usd FROM events")
        assert (row["cache_write_1h_tokens"], row["cost_usd"]) == (8000, _calc())
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.close()
