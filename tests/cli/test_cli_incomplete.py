"""Incomplete calls through the CLI: ingested unpriced with an estimate, counted in every report's line."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from costtrail.cli.main import app

runner = CliRunner()
T0 = "2026-05-01T12:00:00+00:00"


def _events(tmp_path: Path) -> Path:
    done = {
        "event_id": "e-done",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "started_at": T0,
        "run_id": "r1",
        "input_tokens": 1000,
        "output_tokens": 200,
    }
    # A stream cut mid-way: input estimated from the request, output as seen so far.
    cut = {
        **done,
        "event_id": "e-cut",
        "status": "incomplete",
        "error_type": "stream_cut",
        "input_tokens": 400,
        "output_tokens": 3,
    }
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in (done, cut)))
    return path


def _price(input_tokens: int, output_tokens: int) -> Decimal:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price


def test_an_incomplete_call_is_never_a_priced_success(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.duckdb")
    assert runner.invoke(app, ["ingest", str(_events(tmp_path)), "--ledger", ledger]).exit_code == 0
    result = runner.invoke(app, ["report", "--by", "model", "--ledger", ledger, "--format", "json"])
    data = json.loads(result.stdout)
    [row] = data["rows"]
    assert Decimal(row["total_cost"]) == _price(1000, 200)  # the estimate is not in the total
    assert data["incomplete"] == {"events": 1, "estimate_usd": str(_price(400, 3))}
    assert data["unpriced"]["events"] == 0  # counted as incomplete, not as a model without a price
    table = runner.invoke(app, ["report", "--by", "model", "--ledger", ledger])
    assert "Incomplete: 1 call with unknown usage" in table.stdout
    assert "not in the totals" in table.stdout
    run = runner.invoke(app, ["runs", "r1", "--ledger", ledger])
    assert "Incomplete: 1 call " in run.stdout, run.stdout
