"""The finance commands end to end on a ledger file (Typer's CliRunner)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from costtrail.cli.main import app

DATA = Path(__file__).parent / "data"
RULES = """rules:
  - id: vdb
    owner: platform
    review_by: 2027-01-31
    pool: {lines: {provider: vectordb-cloud}}
    signal: query_count
    target: customer
    method: proportional
"""


def test_import_allocate_reconcile_export_revenue_margins(tmp_path: Path) -> None:
    runner = CliRunner()
    ledger = ["--ledger", str(tmp_path / "l.duckdb")]
    done = runner.invoke(app, ["import", "openai-costs", str(DATA / "openai_costs.json"), *ledger])
    assert done.exit_code == 0, done.output
    assert "5 rows, 5 new lines, 0 already imported" in done.output
    again = runner.invoke(
        app, ["import", "openai-costs", str(DATA / "openai_costs.json"), *ledger, "--format", "json"]
    )
    assert json.loads(again.output)[0]["duplicates"] == 5
    mapping = ["--mapping", str(DATA / "vectordb_mapping.yaml")]
    assert (
        runner.invoke(app, ["import", "csv", str(DATA / "vectordb_invoice.csv"), *mapping, *ledger]).exit_code
        == 0
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    alloc = runner.invoke(
        app, ["allocate", "--period", "2026-10", "--rules", str(rules), *ledger, "--format", "json"]
    )
    assert alloc.exit_code == 0, alloc.output
    outcome = json.loads(alloc.output)[0]
    # no events, so the signal is zero and the whole pool shows as unallocated
    assert Decimal(outcome["pool"]) == Decimal(outcome["unallocated"]) == Decimal("1840.00")
    rec = runner.invoke(app, ["reconcile", "--period", "2026-10", *ledger, "--format", "json"])
    assert rec.exit_code == 0, rec.output
    assert json.loads(rec.output)["summary"]["flags"] == {"missing_telemetry": 2}
    out = tmp_path / "focus.parquet"
    exp = runner.invoke(
        app, ["export", "focus", "--period", "2026-10", "--format", "parquet", "-o", str(out), *ledger]
    )
    assert exp.exit_code == 0 and out.exists(), exp.output
    assert runner.invoke(app, ["revenue", "import", str(DATA / "revenue.csv"), *ledger]).exit_code == 0
    margins = runner.invoke(
        app, ["margins", "--period", "2026-10", "--threshold", "50", *ledger, "--format", "json"]
    )
    assert [r["key"] for r in json.loads(margins.output)] == ["initech"]
    bad = runner.invoke(app, ["allocate", "--period", "Oct", "--rules", str(rules), *ledger])
    assert bad.exit_code == 2 and "is not understood" in bad.output
    rules.write_text(RULES.replace("target: customer", "target: galaxy"))
    bad = runner.invoke(app, ["allocate", "--period", "2026-10", "--rules", str(rules), *ledger])
    assert bad.exit_code == 2 and "rules.yaml: rule vdb" in bad.output
