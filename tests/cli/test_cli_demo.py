"""``costtrail demo`` end to end on a temp ledger (a few days, fast fake latency), checked on the ledger."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal as D
from pathlib import Path

from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.demo.product import UNPRICED_MODEL, plan_runs
from costtrail.ledger.duckdb_store import DuckDBStore

DAYS, RUNS_PER_DAY, SEED = 3, 9, 11


def test_demo_end_to_end(tmp_path: Path) -> None:
    ledger = tmp_path / "demo.duckdb"
    ledger.write_text("not a ledger")  # --fresh replaces whatever was there
    args = ["demo", "--ledger", str(ledger), "--fresh", "--days", str(DAYS)]
    args += ["--runs-per-day", str(RUNS_PER_DAY), "--seed", str(SEED)]
    args += ["--latency-scale", "0.01", "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    _, planned = plan_runs(days=DAYS, runs_per_day=RUNS_PER_DAY, seed=SEED)
    sim = out["simulation"]
    assert sim["runs"] == len(planned)
    assert sim["sdk"]["dropped"] == sim["sdk"]["invalid"] == sim["sdk"]["failed"] == 0

    with DuckDBStore(ledger, read_only=True) as store:
        [counts] = store.query(
            "SELECT count(*) FILTER (WHERE kind IN ('llm', 'embedding')) AS calls, "
            "count(*) FILTER (WHERE kind IN ('retrieval', 'tool')) AS recorded, "
            "count(DISTINCT run_id) AS runs, "
            "count(DISTINCT CAST(started_at AS DATE)) AS days, count(DISTINCT environment) AS envs, "
            "sum(cost_usd) AS cost FROM events"
        )
        events = store.query("SELECT run_id, workflow, kind, status, started_at, cost_usd FROM events")
        outcomes = store.query("SELECT run_id, success FROM outcomes")
    # Exactly one event per model call made over HTTP, one per recorded retrieval/tool use.
    assert counts["calls"] == sim["model_calls_over_http"]
    assert counts["recorded"] == sim["recorded_events"]
    assert counts["runs"] == len(planned)
    assert counts["days"] >= DAYS - 1  # simulated dates, not today's
    assert counts["envs"] == len({r.environment for r in planned})
    assert len(outcomes) == sim["outcomes"]
    assert D(out["totals"]["total_cost"]) == counts["cost"]

    # The headline's cost per successful completion, recomputed here from the raw rows.
    outcome_ok: dict[str, bool] = defaultdict(bool)
    for o in outcomes:
        outcome_ok[o["run_id"]] |= o["success"]
    by_run: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        by_run[e["run_id"]].append(e)
    cost: dict[str, D] = defaultdict(D)
    ok: dict[str, int] = defaultdict(int)
    for run_id, rows in by_run.items():
        workflow = rows[0]["workflow"]
        cost[workflow] += sum((r["cost_usd"] or D(0) for r in rows), D(0))
        models = sorted((r for r in rows if r["kind"] in ("llm", "embedding")), key=lambda r: r["started_at"])
        last_ok = bool(models) and models[-1]["status"] == "success"
        success = outcome_ok.get(run_id, last_ok)
        ok[workflow] += success
    assert {w["workflow"] for w in out["workflows"]} == {r.workflow for r in planned}
    for row in out["workflows"]:
        expected = (cost[row["workflow"]] / ok[row["workflow"]]).quantize(D("1e-12"))
        assert D(row["cost_per_successful_run"]) == expected, row["workflow"]

    assert 0 < len(out["customers"]) <= 5
    assert {m["model"] for m in out["models"]} >= {"gpt-4o-mini", "text-embedding-3-small"}
    assert {m["model"] for m in out["unpriced"]["models"]} <= {UNPRICED_MODEL}

    # Billing: every customer with usage invoiced on the demo plans; one invoice in full with its margin.
    billing = out["finance"]["billing"]
    with DuckDBStore(ledger, read_only=True) as store:
        [seen] = store.query(
            "SELECT count(DISTINCT customer_id) AS n FROM events WHERE customer_id IS NOT NULL"
        )
    assert billing["invoices"] == seen["n"] and billing["customers_without_plan"] == []
    invoice = billing["invoice"]
    assert D(invoice["total"]) == sum(D(line["amount"]) for line in invoice["lines"])
    assert D(invoice["margin"]) == D(invoice["total"]) - D(invoice["cost"])
    assert Path(billing["plans_file"]).exists()
