"""The report commands through Typer's CliRunner, on a real DuckDB ledger file; and idempotent ingest."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from tests.reports.reports_dataset import hand_events, load_hand_dataset
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore

runner = CliRunner()


@pytest.fixture
def ledger_file(tmp_path: Path) -> str:
    path = str(tmp_path / "ledger.duckdb")
    with DuckDBStore(path) as store:
        load_hand_dataset(store)
    return path


def invoke_json(*args: str) -> object:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_report_by_workflow_json(ledger_file: str) -> None:
    data = invoke_json("report", "--by", "workflow", "--ledger", ledger_file)
    assert isinstance(data, dict)
    assert data["by"] == ["workflow"]
    support = data["rows"][0]
    assert support["workflow"] == "support_reply"
    assert D(support["total_cost"]) == D("0.161")
    assert D(support["cost_per_successful_run"]) == D("0.0805")
    assert support["runs"] == 4 and support["successful_runs"] == 2
    assert data["unpriced"] == {
        "events": 1,
        "models": [{"kind": "llm", "provider": "acme-ai", "model": "my-private-model", "events": 1}],
    }


def test_report_where_since_and_custom_dimensions(ledger_file: str) -> None:
    data = invoke_json(
        "report",
        "--by",
        "customer",
        "--where",
        "tenant_id=t1",
        "--since",
        "2026-03-02",
        "--ledger",
        ledger_file,
    )
    assert isinstance(data, dict)
    got = {r["customer_id"]: D(r["total_cost"]) for r in data["rows"]}
    assert got == {"c1": D("0.05"), "c2": D("0.04")}
    data = invoke_json(
        "report", "--by", "workflow,model", "--metrics", "total_cost,model_calls", "--ledger", ledger_file
    )
    assert isinstance(data, dict)
    assert data["metrics"] == ["total_cost", "model_calls"]
    assert data["rows"][0] == {
        "workflow": "support_reply",
        "model": "claude-sonnet-4-5",
        "total_cost": "0.090000000000",
        "model_calls": 2,
    }


def test_report_failed_and_csv(ledger_file: str) -> None:
    data = invoke_json("report", "--by", "workflow", "--failed", "--ledger", ledger_file)
    assert isinstance(data, dict)
    assert D(data["rows"][0]["failed_run_cost"]) == D("0.09")
    result = runner.invoke(app, ["report", "--by", "tool", "--format", "csv", "--ledger", ledger_file])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert (
        lines[0] == "tool_name,events,failure_rate,avg_latency_ms,p95_latency_ms,workflows_touched,total_cost"
    )
    assert lines[1].startswith("ocr,1,1.0,50.0,50.0,1,0.01")


def test_report_table_shows_unpriced_line(ledger_file: str) -> None:
    result = runner.invoke(app, ["report", "--by", "model", "--ledger", ledger_file], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "claude-sonnet-4-5" in result.stdout and "$0.09" in result.stdout
    assert "Unpriced: 1 event with no price" in result.stdout
    assert "acme-ai/my-private-model x1" in result.stdout


def test_runs_top_and_one_run(ledger_file: str) -> None:
    data = invoke_json("runs", "--top", "2", "--ledger", ledger_file)
    assert isinstance(data, dict)
    assert [(r["run_id"], D(r["total_cost"])) for r in data["rows"]] == [("s3", D("0.05")), ("s2", D("0.04"))]
    run = invoke_json("runs", "s2", "--ledger", ledger_file)
    assert isinstance(run, dict)
    assert run["succeeded"] is False
    assert [D(s["cumulative_cost"]) for s in run["steps"]] == [D("0.02"), D("0.04")]
    result = runner.invoke(app, ["runs", "s2", "--ledger", ledger_file], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "Steps in order" in result.stdout and "did not succeed" in result.stdout


def test_clear_errors(ledger_file: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--by", "colour", "--ledger", ledger_file])
    assert result.exit_code == 2 and "unknown report 'colour'" in result.stderr
    result = runner.invoke(app, ["report", "--where", "tenant", "--ledger", ledger_file])
    assert result.exit_code == 2 and "--where takes dimension=value" in result.stderr
    result = runner.invoke(app, ["report", "--ledger", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 2 and "no ledger at" in result.stderr
    result = runner.invoke(app, ["runs", "nope", "--ledger", ledger_file])
    assert result.exit_code == 1 and "no run 'nope'" in result.stderr
    result = runner.invoke(app, ["report", "--since", "someday", "--ledger", ledger_file])
    assert result.exit_code == 2 and "ISO date" in result.stderr


def test_ingest_twice_leaves_totals_unchanged(tmp_path: Path) -> None:
    records = [e.model_dump(mode="json", exclude={"cost_source"}) for e in hand_events()]
    records.append(
        {"event_id": "priced-1", "workflow": "support_reply", "run_id": "s9", "provider": "openai",
         "model": "gpt-4o-mini", "prompt_tokens": 1_000_000, "completion_tokens": 0}
    )  # fmt: skip
    file = tmp_path / "events.ndjson"
    file.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    ledger = str(tmp_path / "ingest.duckdb")

    first = invoke_json("ingest", str(file), "--ledger", ledger)
    before = invoke_json("report", "--by", "workflow", "--ledger", ledger)
    second = invoke_json("ingest", str(file), "--ledger", ledger)
    after = invoke_json("report", "--by", "workflow", "--ledger", ledger)

    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["accepted"], first["duplicates"]) == (len(records), 0)
    assert (second["accepted"], second["duplicates"]) == (0, len(records))
    assert after == before
    assert isinstance(after, dict)
    support = next(r for r in after["rows"] if r["workflow"] == "support_reply")
    assert D(support["total_cost"]) == D("0.161") + D("0.15")  # + 1M gpt-4o-mini input tokens at $0.15/M
    result = runner.invoke(app, ["ingest", str(file), "--ledger", ledger])
    assert result.exit_code == 0 and f"accepted 0, duplicates {len(records)}" in result.stdout
