"""Same reports on ClickHouse (the real engine, in-process via chdb) as on DuckDB, to the exact Decimal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.reports.reports_dataset import load_hand_dataset

from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports import failed_spend, run_steps, top_runs, view_names, view_report


def _approx(row: dict[str, Any]) -> dict[str, Any]:
    """Floats (latency percentiles) within rounding; money and counts exactly."""
    return {k: pytest.approx(v) if isinstance(v, float) else v for k, v in row.items()}


def test_every_view_matches_duckdb(tmp_path: Path) -> None:
    duck = load_hand_dataset(DuckDBStore(":memory:"))
    click = load_hand_dataset(ClickHouseStore.from_url(f"chdb://{tmp_path}?database=reports"))
    try:
        for name in view_names():
            a, b = view_report(duck, name), view_report(click, name)
            assert [_approx(r) for r in b] == list(a), name
            assert a.unpriced == b.unpriced, name
        assert list(top_runs(duck)) == list(top_runs(click))
        assert list(failed_spend(duck)) == list(failed_spend(click))
        steps_duck, steps_click = run_steps(duck, "s2"), run_steps(click, "s2")
        assert steps_duck["steps"] == steps_click["steps"]
        assert steps_duck["succeeded"] is steps_click["succeeded"] is False
    finally:
        click.close()
        duck.close()


@pytest.mark.parametrize("name", ["workflow"])
def test_clickhouse_cost_per_successful_run(tmp_path: Path, name: str) -> None:
    click = load_hand_dataset(ClickHouseStore.from_url(f"chdb://{tmp_path}?database=reports2"))
    try:
        rows = {r["workflow"]: r for r in view_report(click, name)}
        assert str(rows["support_reply"]["cost_per_successful_run"].normalize()) == "0.0805"
    finally:
        click.close()
