"""The controls part of the demo on a ledger of normal traffic: one budget trips, one loop, one anomaly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.controls.controls_traffic import NOW

from costtrail.controls.config import ControlsConfig
from costtrail.demo.controls_demo import LOOP_RUN, add_controls_demo
from costtrail.ledger.duckdb_store import DuckDBStore


def test_controls_demo(ledger: DuckDBStore, tmp_path: Path) -> None:
    controls_file = tmp_path / "controls.yaml"
    demo = add_controls_demo(ledger, now=NOW, controls_path=controls_file)
    config = ControlsConfig.load(controls_file)  # the file the demo wrote is a valid controls file
    assert [b.name for b in config.budgets] == [
        "prod-monthly",
        f"{demo.tenant}-daily",
        "support-reply-monthly",
    ]
    assert demo.blocked_calls > 0 and demo.admitted_calls > 0
    assert demo.denial is not None and f"budget '{demo.tenant}-daily'" in demo.denial
    kinds = Counter(a["kind"] for a in demo.alerts)
    assert kinds["budget_blocked"] == 1 and kinds["retry_loop"] == 1 and kinds["tenant_anomaly"] == 1
    [loop] = [a for a in demo.alerts if a["kind"] == "retry_loop"]
    assert loop["evidence"]["run_id"] == LOOP_RUN and loop["evidence"]["events"] == 45
    [anomaly] = [a for a in demo.alerts if a["kind"] == "tenant_anomaly"]
    assert anomaly["evidence"]["tenant_id"] != demo.tenant  # the unbudgeted tenant's spike
    # the blocked calls were never recorded: the tenant's day stays within its budget
    day = ledger.query(
        f"SELECT sum(cost_usd) AS c FROM events WHERE tenant_id = '{demo.tenant}' "
        "AND started_at >= '2026-03-11' AND started_at < '2026-03-12'"
    )[0]["c"]
    assert day <= config.budgets[1].limit
    assert demo.cheapest is not None and demo.cheapest["chosen_model"] in ("gpt-4o-mini", "claude-haiku-4-5")
    assert demo.drifted == ["input tokens per call"]
