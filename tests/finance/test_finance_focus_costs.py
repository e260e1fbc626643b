"""FOCUS cost columns mean what the spec says, and unpriced usage is never a $0 cost row.

Through the real door: ``costtrail ingest --rate-card`` then ``costtrail export focus``
(CliRunner), the file read back and given to the official focus-validator.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from finance_focus_venv import ensure
from genai_prices import Usage, calc_price
from test_finance_focus_export import VALIDATOR_CONTRADICTION, _validate
from typer.testing import CliRunner

from costtrail.cli.main import app as cli

runner = CliRunner()
CARD = """
version: negotiated-2026
models:
  - id: openai-contract
    provider: openai
    model: "gpt-4o*"
    discount_percent: 20
"""
# 100k input tokens of gpt-4o at the list price: 100,000 x $2.50/M = $0.25.
LIST = calc_price(Usage(input_tokens=100_000), "gpt-4o", provider_id="openai").total_price
NEGOTIATED = LIST * Decimal("0.8")  # 20% off the list price: $0.20


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], str, Path]:
    folder = tmp_path_factory.mktemp("focus-costs")
    (folder / "card.yaml").write_text(CARD)
    events = [
        {"event_id": "priced", "provider": "openai", "model": "gpt-4o", "input_tokens": 100_000,
         "started_at": "2026-10-03T10:00:00Z", "workflow": "support"},
        {"event_id": "unpriced", "provider": "openai", "model": "mystery-model-x", "input_tokens": 5_000,
         "started_at": "2026-10-03T11:00:00Z", "workflow": "support"},
    ]  # fmt: skip
    (folder / "events.ndjson").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    ledger = str(folder / "ledger.duckdb")
    ingest = [
        "ingest",
        str(folder / "events.ndjson"),
        "--ledger",
        ledger,
        "--rate-card",
        str(folder / "card.yaml"),
    ]
    assert runner.invoke(cli, ingest).exit_code == 0
    out = folder / "focus.csv"
    result = runner.invoke(
        cli, ["export", "focus", "--period", "2026-10", "-o", str(out), "--ledger", ledger]
    )
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    return rows, result.stderr, out


def test_list_contracted_effective_billed_costs(export: tuple[list[dict[str, str]], str, Path]) -> None:
    rows, _, _ = export
    (row,) = [r for r in rows if r["x_CostSource"] == "telemetry"]
    assert row["x_Model"] == "gpt-4o"
    assert Decimal("0.25") == LIST and Decimal("0.2") == NEGOTIATED
    assert Decimal(row["ListCost"]) == LIST
    assert Decimal(row["ContractedCost"]) == NEGOTIATED
    assert Decimal(row["EffectiveCost"]) == NEGOTIATED
    assert Decimal(row["BilledCost"]) == NEGOTIATED


def test_unpriced_usage_is_not_a_zero_cost_row(export: tuple[list[dict[str, str]], str, Path]) -> None:
    rows, stderr, _ = export
    assert not [r for r in rows if r["x_Model"] == "mystery-model-x"]
    assert all(Decimal(r["BilledCost"]) != 0 for r in rows if r["x_CostSource"] == "telemetry")
    assert "left out 1 unpriced events" in stderr


def test_focus_validator_still_accepts_it(
    export: tuple[list[dict[str, str]], str, Path], tmp_path: Path
) -> None:
    _, _, path = export
    failed = _validate(ensure(), path, tmp_path)
    assert [f.split(" ::")[0] for f in failed] == [VALIDATOR_CONTRADICTION], failed
