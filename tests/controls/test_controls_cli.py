"""The controls and optimization commands, end to end on a DuckDB file through the real CLI."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.controls.controls_traffic import make_run
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer

CONTROLS = """
budgets:
  - name: prod-month
    scope: {environment: production}
    limit_usd: 0.01
    owner: sre@example.com
  - {name: acme-day, scope: {tenant_id: acme}, period: day, limit_usd: 100, action: alert}
guardrails:
  retry_loop: {max_events: 30}
alerts: {log: false}
"""


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """A ledger file with the last two days of traffic (relative to the real clock) and one retry loop."""
    now = datetime.now(UTC)
    rng = random.Random(11)
    events = []
    for i in range(40):
        at = now - timedelta(hours=40) + timedelta(hours=i)
        events += make_run(rng, "support_reply", f"r{i}", "acme" if i % 2 else "globex", at)
    for k in range(40):  # one run looping in the last hour
        events += make_run(
            rng, "onboarding", "loop-1", "acme", now - timedelta(minutes=30) + timedelta(seconds=20 * k)
        )
    # Both tenants were seen before yesterday, whatever the hour: with the 40 hours alone, a run
    # between 15:00 and 16:00 UTC put acme's first event on yesterday, a genuine `new_tenant`.
    for tenant in ("acme", "globex"):
        events += make_run(rng, "support_reply", f"early-{tenant}", tenant, now - timedelta(days=3))
    path = tmp_path / "ledger.duckdb"
    store = DuckDBStore(path)
    store.append_events(Pricer().apply(events))
    store.close()
    return str(path)


def run(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_budgets_guard_and_alerts(ledger: str, tmp_path: Path) -> None:
    config = tmp_path / "controls.yaml"
    config.write_text(CONTROLS)
    budgets = json.loads(run("budgets", "--config", str(config), "--ledger", ledger, "--format", "json"))
    by_name = {b["budget"]: b for b in budgets}
    assert by_name["prod-month"]["status"] == "EXHAUSTED" and by_name["prod-month"]["remaining"] == "0"
    assert by_name["acme-day"]["status"] == "ok" and by_name["acme-day"]["owner"] is None
    assert by_name["prod-month"]["owner"] == "sre@example.com"
    table = run("budgets", "--config", str(config), "--ledger", ledger)
    assert "prod-month" in table and "EXHAUSTED" in table

    found = json.loads(run("guard", "--config", str(config), "--ledger", ledger, "--format", "json"))
    assert [a["kind"] for a in found] == ["retry_loop"]
    assert found[0]["evidence"]["run_id"] == "loop-1"
    stored = json.loads(run("alerts", "--ledger", ledger, "--format", "json"))
    assert [a["kind"] for a in stored] == ["retry_loop"]
    assert json.loads(run("alerts", "--ledger", ledger, "--kind", "cost_spike", "--format", "json")) == []
    run("guard", "--config", str(config), "--ledger", ledger)  # within the cooldown: stored once
    assert len(json.loads(run("alerts", "--ledger", ledger, "--format", "json"))) == 1


def test_whatif_cheapest_audit_drift_forecast(ledger: str, tmp_path: Path) -> None:
    whatif = json.loads(
        run(
            "whatif",
            "--workflow",
            "support_reply",
            "--model",
            "gpt-4.1-nano",
            "--ledger",
            ledger,
            "--format",
            "json",
        )
    )
    total = whatif["figures"][0]
    assert total["metric"] == "total" and float(total["what_if"]) < float(total["current"])
    evals = tmp_path / "evals.csv"
    evals.write_text(
        "workflow,model,pass_rate,eval_date,avg_input_tokens,avg_output_tokens\n"
        "support_reply,gpt-4o-mini,0.92,2026-01-05,1800,350\n"
        "support_reply,gpt-4.1-nano,0.81,2026-01-05,1800,350\n"
    )
    assert "accepted 2, duplicates 0, rejected 0" in run("evals", "import", str(evals), "--ledger", ledger)
    pick = json.loads(
        run(
            "cheapest",
            "--workflow",
            "support_reply",
            "--min-pass-rate",
            "0.8",
            "--ledger",
            ledger,
            "--format",
            "json",
        )
    )
    assert pick["chosen_model"] == "gpt-4.1-nano" and float(pick["monthly_saving"]) > 0
    text = run("cheapest", "--workflow", "support_reply", "--min-pass-rate", "0.9", "--ledger", ledger)
    assert "cheapest that clears pass_rate >= 0.9: gpt-4o-mini" in text
    audited = json.loads(
        run("audit", "--workflow", "support_reply", "--sample", "50", "--ledger", ledger, "--format", "json")
    )
    assert audited["sampled_calls"] == 50 and audited["drifted"] == []
    series = json.loads(run("drift", "--workflow", "support_reply", "--ledger", ledger, "--format", "json"))
    assert sum(r["calls"] for r in series["series"]) > 120
    forecast = json.loads(run("forecast", "--ledger", ledger, "--format", "json"))
    assert forecast[0]["scope"] == "(total)"


def test_clear_errors(ledger: str, tmp_path: Path) -> None:
    bad = tmp_path / "controls.yaml"
    bad.write_text("budgets:\n  - name: x\n    limit_usd: 1\n    period: yearly\n")
    result = CliRunner().invoke(app, ["budgets", "--config", str(bad), "--ledger", ledger])
    assert result.exit_code == 2
    assert f"{bad}:4: budgets[0] (name 'x').period: Input should be" in result.output
    result = CliRunner().invoke(app, ["budgets", "--config", str(tmp_path / "none.yaml"), "--ledger", ledger])
    assert result.exit_code == 2 and "no controls file at" in result.output
    result = CliRunner().invoke(app, ["cheapest", "--workflow", "support_reply", "--min-pass-rate", "0.9",
                                      "--ledger", ledger])  # fmt: skip
    assert result.exit_code == 2 and "costtrail evals import FILE" in result.output


@pytest.mark.parametrize(
    "command",
    ["budgets", "alerts", "guard", "whatif", "cheapest", "audit", "drift", "forecast", "evals import"],
)
def test_every_command_has_help_with_an_example(command: str) -> None:
    out = run(*command.split(), "--help")
    assert "Example: costtrail " + command.split()[0] in out
