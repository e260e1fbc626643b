"""`costtrail migrate`: DuckDB file -> ClickHouse (chdb), resumable and verified per day."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.contract.ledger_samples import T0, sample_cost_lines, sample_events, sample_outcomes
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event


def _source(path: Path) -> list[Event]:
    events = sample_events(2000, seed=11)
    with DuckDBStore(path) as store:
        store.append_events(events)
        store.append_outcomes(sample_outcomes(events))
        store.append_cost_lines(sample_cost_lines())
    return events


def _migrate(src: Path, dest: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(
        app,
        ["migrate", "--from", f"duckdb://{src}", "--to", dest, "--format", "json", "--batch-rows", "1000"],
    )
    return result.exit_code, json.loads(result.stdout[result.stdout.index("[") :])


def test_migrate_resumes_after_an_interruption_and_verifies(tmp_path: Path, chdb_dir: Path) -> None:
    src = tmp_path / "ledger.duckdb"
    events = _source(src)
    dest = f"chdb://{chdb_dir}?database=m_{uuid.uuid4().hex[:8]}"
    first_day = [e for e in events if e.started_at < T0 + timedelta(hours=2)]
    with ClickHouseStore.from_url(dest) as partial:  # an earlier run that stopped after day one
        partial.append_events(first_day)
    code, report = _migrate(src, dest)
    assert code == 0, report
    by_table = {r["table"]: r for r in report}
    assert by_table["events"]["copied"] == len(events) - len(first_day)
    assert by_table["events"]["days_skipped"] == 1
    assert all(r["verified"] for r in report)
    assert by_table["outcomes"]["copied"] == 500 and by_table["cost_lines"]["copied"] == 6
    code, again = _migrate(src, dest)
    assert code == 0 and all(r["copied"] == 0 for r in again)
    with ClickHouseStore.from_url(dest) as ch:
        total = ch.query("SELECT sum(cost_usd) AS c, count() AS n FROM events")[0]
    assert total == {"c": sum((e.cost_usd or Decimal(0) for e in events), Decimal(0)), "n": 2000}


def test_migrate_fails_when_a_day_does_not_match(tmp_path: Path, chdb_dir: Path) -> None:
    src = tmp_path / "ledger.duckdb"
    _source(src)
    dest = f"chdb://{chdb_dir}?database=m_{uuid.uuid4().hex[:8]}"
    with ClickHouseStore.from_url(dest) as ch:  # a row the source never had
        ch.append_events([Event(provider="openai", model="gpt-4o", started_at=T0, cost_usd="1")])
    code, report = _migrate(src, dest)
    assert code == 1
    assert report[0]["mismatched_days"] == T0.date().isoformat()


def test_ledger_ddl_prints_the_cluster_schema() -> None:
    result = CliRunner().invoke(app, ["ledger-ddl", "--cluster", "prod", "--ttl-days", "30"])
    assert result.exit_code == 0
    assert "ENGINE = Distributed(`prod`" in result.stdout
    assert "INTERVAL 30 DAY DELETE" in result.stdout


def test_a_copied_batch_with_nulls_in_a_required_column_names_it() -> None:
    import pyarrow as pa
    import pytest as _pytest

    from costtrail.ledger.columns import EVENT_SCHEMA
    from costtrail.ledger.migrate import conform

    field = EVENT_SCHEMA.field("web_searches")
    assert not field.nullable
    schema = pa.schema([field])
    # As an older ledger's copy can read it: the count column present, its values missing.
    batch = pa.table({"web_searches": pa.array([2, None], pa.int64())})
    with _pytest.raises(ValueError, match=r"'web_searches' has 1 NULL values.*fill it"):
        conform(batch, schema)
