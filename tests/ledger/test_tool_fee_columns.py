"""The tool-fee counts (``web_searches``, ``file_searches``, ``code_executions``) are stored by both
stores, priced, and added to ledgers made before them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
from genai_prices import Usage, calc_price

from costtrail.ledger.clickhouse_schema import DDLOptions
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.migrations import apply_migrations
from costtrail.pricing import Pricer
from costtrail.schema import TOOL_FEE_FIELDS, Event

# gpt-4o, 12,000 in / 900 out, 2 web searches, 3 file searches.
SEARCHED = {
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 12_000,
    "output_tokens": 900,
    "web_searches": 2,
    "file_searches": 3,
}


def _calc() -> Decimal:
    usage = Usage(input_tokens=12_000, output_tokens=900, web_searches=2, storage_searches=3)
    return calc_price(usage, "gpt-4o", provider_id="openai").total_price


def test_duckdb_ledger_written_before_the_columns_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with DuckDBStore(path) as store:
        store.append_events(Pricer().apply([Event(provider="openai", model="gpt-4o-mini", input_tokens=5)]))
    conn = duckdb.connect(str(path))
    for name in TOOL_FEE_FIELDS:  # as an older costtrail made it
        conn.execute(f"ALTER TABLE events DROP COLUMN {name}")
    conn.close()
    with DuckDBStore(path) as store:
        store.append_events(Pricer().apply([Event(**SEARCHED)]))
        rows = store.query("SELECT model, web_searches, file_searches, cost_usd FROM events ORDER BY model")
    assert [(r["model"], r["web_searches"], r["file_searches"]) for r in rows] == [
        ("gpt-4o", 2, 3),
        ("gpt-4o-mini", 0, 0),
    ]
    # 12,000 x $2.50/M + 900 x $10/M + 2 x $10/1,000 + 3 x $2.50/1,000 = 0.03 + 0.009 + 0.02 + 0.0075
    assert rows[0]["cost_usd"] == _calc() == Decimal("0.0665")


def test_clickhouse_migration_7_adds_the_columns(chdb_dir: Path) -> None:
    database = f"m_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore.from_url(f"chdb://{chdb_dir}?database={database}")
    try:
        for name in TOOL_FEE_FIELDS:
            store.command(f"ALTER TABLE `{database}`.events DROP COLUMN {name}")
        store.command(f"ALTER TABLE `{database}`.costtrail_migrations DELETE WHERE version = 7")
        assert apply_migrations(store, DDLOptions(database=database)) == [7]
        store.append_events(Pricer().apply([Event(**SEARCHED)]))
        [row] = store.query("SELECT web_searches, file_searches, code_executions, cost_usd FROM events")
        assert (row["web_searches"], row["file_searches"], row["code_executions"]) == (2, 3, 0)
        assert row["cost_usd"] == _calc()
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.close()
