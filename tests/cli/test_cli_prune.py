"""``costtrail prune-events``: DuckDB retention that keeps run counts exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports import report
from costtrail.schema import Event

START = datetime(2026, 4, 1, 22, tzinfo=UTC)


def _ledger(path: Path) -> list[Event]:
    # 30 runs, each with an event at 22:00 on April 1st and one four hours later (April 2nd).
    events = [
        Event(
            event_id=f"e{r}-{k}",
            run_id=f"run-{r}",
            workflow="triage",
            started_at=START + timedelta(hours=4 * k, minutes=r),
            provider="openai",
            model="gpt-4o-mini",
            cost_usd=Decimal("0.01"),
            cost_source="reported",
        )
        for r in range(30)
        for k in range(2)
    ]
    with DuckDBStore(path) as store:
        store.append_events(events)
    return events


def test_prune_deletes_old_events_and_keeps_run_counts_exact(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    _ledger(path)
    runner = CliRunner()
    args = ["prune-events", "--before", "2026-04-02", "--ledger", str(path), "--format", "json"]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)[0] | {"ledger": None} == {
        "ledger": None,
        "before": "2026-04-02 00:00:00",
        "events": 30,
        "deleted": False,
    }
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)[0]["events"] == 30
    with DuckDBStore(path) as store:
        rows = report(store, by=["day"], metrics=["runs", "events"])
        # Every run now lives on April 2nd alone: the index says so, without the deleted day.
        assert [(str(r["day"]), r["runs"], r["events"]) for r in rows] == [("2026-04-02", 30, 30)]
        assert store.query("SELECT count(*) AS n FROM run_index WHERE day_lo = day_hi")[0]["n"] == 30


def test_prune_explains_a_bad_date_and_a_clickhouse_ledger(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        app, ["prune-events", "--before", "last tuesday", "--ledger", str(tmp_path / "x.duckdb")]
    )
    assert bad.exit_code == 2 and "--before" in bad.output and "ISO 8601" in bad.output
    ch = runner.invoke(
        app, ["prune-events", "--before", "2026-01-01", "--ledger", f"chdb://{tmp_path / 'ch'}"]
    )
    assert ch.exit_code == 2 and "ttl_days" in ch.output
