"""The smaller things a person trips over: ingest exit codes, guard's count, unit-cost of an unknown
outcome, "1 event", allocation rule errors all at once, demo files per ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costtrail.allocation import AllocationRuleError, parse_rules
from costtrail.cli.demo_cmds import demo_file
from costtrail.cli.main import app

runner = CliRunner()

# an unknown private model: stored unpriced
UNPRICED = [
    {
        "event_id": f"u-{i}",
        "run_id": f"r-{i}",
        "provider": "acme-ai",
        "model": "private-1",
        "input_tokens": 10,
    }
    for i in range(2)
]


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_ingest_exit_code_is_the_same_in_every_format(tmp_path: Path, fmt: str) -> None:
    file = _write(tmp_path / "mixed.ndjson", [*UNPRICED, {"event_id": "bad", "input_tokens": -5}])
    result = runner.invoke(
        app, ["ingest", str(file), "--ledger", str(tmp_path / "l.duckdb"), "--format", fmt]
    )
    assert result.exit_code == 1, result.output


def test_a_reload_reports_no_unpriced_events(tmp_path: Path) -> None:
    file = _write(tmp_path / "unpriced.ndjson", UNPRICED)
    ledger = str(tmp_path / "l.duckdb")
    first = runner.invoke(app, ["ingest", str(file), "--ledger", ledger, "--format", "json"])
    again = runner.invoke(app, ["ingest", str(file), "--ledger", ledger, "--format", "json"])
    assert json.loads(first.stdout)["unpriced"] == 2
    assert json.loads(again.stdout)["accepted"] == 0
    assert json.loads(again.stdout)["unpriced"] == 0
    text = runner.invoke(app, ["ingest", str(file), "--ledger", ledger])
    assert text.exit_code == 0 and "unpriced" not in text.stdout


def test_one_unpriced_event_reads_singular(tmp_path: Path) -> None:
    ledger = str(tmp_path / "l.duckdb")
    runner.invoke(app, ["ingest", str(_write(tmp_path / "one.ndjson", UNPRICED[:1])), "--ledger", ledger])
    result = runner.invoke(app, ["report", "--ledger", ledger], env={"COLUMNS": "200"})
    assert "Unpriced: 1 event with no price" in result.stdout


def test_allocation_rule_errors_come_all_at_once() -> None:
    rules = {"rules": [{"id": "vdb", "pool": {"fixed_usd": "10"}, "target": "customer", "method": "even"}]}
    with pytest.raises(AllocationRuleError) as caught:
        parse_rules(rules)
    assert "rule vdb, field owner" in str(caught.value) and "rule vdb, field review_by" in str(caught.value)


def test_demo_files_are_named_after_their_ledger(tmp_path: Path) -> None:
    assert demo_file(tmp_path / "costtrail.duckdb", "controls").name == "costtrail-demo-controls.yaml"
    assert demo_file(tmp_path / "other.duckdb", "controls") != demo_file(
        tmp_path / "costtrail.duckdb", "controls"
    )
