"""One money rule in every view: cents from $1, four significant digits below, never $0.00 for a cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports.money import format_pct, format_ratio, format_usd
from costtrail.schema import Event

DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("1234.567", "$1,234.57"),
        ("1", "$1.00"),
        ("0.5", "$0.50"),
        ("0.0103", "$0.0103"),
        ("0.009696", "$0.009696"),
        ("0.0045", "$0.0045"),
        ("0.00000041234", "$0.0000004123"),  # no exponent
        ("1E-9", "$0.000000001"),
        ("0.99996", "$1.00"),
        ("0", "$0"),
        ("-12.3", "-$12.30"),
    ],
)
def test_the_money_rule(amount: str, shown: str) -> None:
    assert format_usd(Decimal(amount)) == shown


def test_percentages_carry_a_percent_sign() -> None:
    assert format_pct(Decimal("-39.24")) == "-39.2%"
    assert format_ratio(Decimal("0.952")) == "95.2%"


def _event(n: int, run: str, cost: str, day: int) -> Event:
    return Event.parse(
        {
            "event_id": f"{run}-{n}",
            "run_id": run,
            "workflow": "support_reply",
            "started_at": DAY + timedelta(days=day),
            "kind": "llm",
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 1_000,
            "output_tokens": 200,
            "cost_usd": Decimal(cost),
        }
    )


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    path = str(tmp_path / "money.duckdb")
    with DuckDBStore(path) as store:
        costs = [("run-a", "0.0103"), ("run-b", "0.009696"), ("run-c", "0.0045")]
        store.append_events([_event(n, run, cost, n) for n, (run, cost) in enumerate(costs)])
    return path


def table(*args: str) -> str:
    result = runner.invoke(app, [*args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_small_run_total_is_not_rounded_away(ledger: str) -> None:
    out = table("runs", "run-c", "--ledger", ledger)
    assert "total=$0.0045" in out
    assert "$0.00 " not in out and "$0.0000" not in out


def test_drift_never_shows_the_bigger_cost_as_the_smaller(ledger: str) -> None:
    out = table("drift", "--workflow", "support_reply", "--since", "2026-03-01", "--ledger", ledger)
    assert "$0.0103" in out and "$0.009696" in out
    assert "$0.01 " not in out


def test_report_cells_show_no_zero_for_a_cost(ledger: str) -> None:
    out = table("report", "--by", "workflow", "--ledger", ledger)
    assert "$0.0245 " in out  # 0.0103 + 0.009696 + 0.0045 = 0.024496 -> four significant digits 0.02450
    assert "$0.0000" not in out and "$0.00 " not in out


def test_whatif_changes_are_percentages(ledger: str) -> None:
    out = table("whatif", "--workflow", "support_reply", "--model", "gpt-4o-mini", "--since", "2026-03-01",
                "--ledger", ledger)  # fmt: skip
    rows = [line for line in out.splitlines() if line.startswith("│ per run")]
    assert rows and rows[0].rstrip(" │").endswith("%"), out
