"""Reconciliation matches a bill's dated snapshot with telemetry's alias through genai-prices.

Through the real door: ``costtrail import openai-costs``, ``costtrail ingest``, ``costtrail
reconcile`` (CliRunner). Before, ``gpt-4o-mini-2024-07-18`` on the bill and ``gpt-4o-mini`` in
telemetry were two groups: missing telemetry plus untracked events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from costtrail.cli.main import app

runner = CliRunner()
DAY = datetime(2026, 10, 3, tzinfo=UTC)
COST = calc_price(Usage(input_tokens=1_000_000), "gpt-4o-mini", provider_id="openai").total_price  # $0.15


def test_bill_snapshot_and_telemetry_alias_are_one_model(tmp_path: Path) -> None:
    bill = {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": int(DAY.timestamp()),
                "end_time": int(DAY.timestamp()) + 86_400,
                "results": [
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": float(COST), "currency": "usd"},
                        "line_item": "gpt-4o-mini-2024-07-18, input",
                        "project_id": "proj_a",
                        "organization_id": "org-x",
                    }
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    event = {"event_id": "m1", "provider": "openai", "model": "gpt-4o-mini", "provider_account": "proj_a",
             "input_tokens": 1_000_000, "started_at": "2026-10-03T09:00:00Z"}  # fmt: skip
    (tmp_path / "bill.json").write_text(json.dumps(bill))
    (tmp_path / "events.ndjson").write_text(json.dumps(event) + "\n")
    ledger = ["--ledger", str(tmp_path / "ledger.duckdb")]
    assert runner.invoke(app, ["import", "openai-costs", str(tmp_path / "bill.json"), *ledger]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(tmp_path / "events.ndjson"), *ledger]).exit_code == 0
    done = runner.invoke(app, ["reconcile", "--period", "2026-10", *ledger, "--format", "json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)["summary"]
    assert summary["flags"] == {}  # not missing_telemetry + untracked_events
    assert (summary["groups"], summary["matched_groups"]) == (1, 1)
    assert Decimal(summary["billed"]) == Decimal(summary["computed"]) == COST
