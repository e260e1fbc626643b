"""Tables that fit: at 80 columns into a pipe every identifier is whole and nothing ends in an ellipsis;
--columns, --format markdown; run ids by unique prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports import get_view, view_names
from costtrail.schema import Event

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RUNS = [
    "3f9c2b7e8d1a4c6fb0e5d2a9c7b1e4f0",
    "3f9c2b7e8d1a4c6fb0e5d2a9c7b1e4f1",
    "a1b2c3d4e5f60718293a4b5c6d7e8f90",
]
# long names, as real ledgers have them; every one must be printed whole
NAMES = {
    "workflow": "customer_support_reply_escalation",
    "agent": "escalation-triage-agent",
    "step": "retrieve_knowledge_base_articles",
    "tool_name": "vector_search_knowledge_base",
    "feature": "ticket-auto-resolution",
    "customer_id": "enterprise-customer-000042",
    "tenant_id": "tenant-emea-enterprise-7",
    "environment": "production-eu-west-1",
}
MODELS = [("anthropic", "claude-haiku-4-5-20251001"), ("openai", "text-embedding-3-small")]


def _event(n: int, run: str, provider: str, model: str) -> Event:
    return Event.parse(
        {
            "event_id": f"e-{n}",
            "run_id": run,
            "started_at": DAY + timedelta(hours=n),
            "kind": "embedding" if "embedding" in model else "llm",
            "provider": provider,
            "model": model,
            "input_tokens": 1_200 + n,
            "output_tokens": 0 if "embedding" in model else 300,
            "payload_bytes": 4_000,
            "latency_ms": 812.5,
            "cost_usd": Decimal("0.0123") * (n + 1),
            **NAMES,
        }
    )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("tables") / "tables.duckdb")
    events = [_event(n, run, *MODELS[n % 2]) for n, run in enumerate(RUNS * 2)]
    with DuckDBStore(path) as store:
        store.append_events(events)
    return path


def piped(*args: str) -> str:
    """``costtrail ARGS`` in a fresh process whose stdout is a pipe, at 80 columns."""
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "costtrail.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_fits(out: str, identifiers: list[str], maybe_left_out: tuple[str, ...] = ()) -> None:
    assert "…" not in out and "..." not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    for name in identifiers:
        assert name in out, f"{name!r} is not shown whole:\n{out}"
    for name in maybe_left_out:  # a column left out (the table says so) or shown whole, never cut
        assert name in out or name[:12] not in out, f"{name!r} is cut:\n{out}"


@pytest.mark.parametrize("view", view_names())
def test_every_report_fits_80_columns_with_identifiers_whole(ledger: str, view: str) -> None:
    out = piped("report", "--by", view, "--ledger", ledger)
    by = get_view(view).by if view != "failed" else ("workflow",)
    shown = [NAMES[d] for d in by if d in NAMES]
    if "model" in by:
        shown += [m for _, m in MODELS]
    assert_fits(out, shown)


def test_runs_list_and_one_run_fit_80_columns(ledger: str) -> None:
    assert_fits(piped("runs", "--ledger", ledger), RUNS, (NAMES["workflow"], NAMES["customer_id"]))
    assert_fits(piped("runs", RUNS[2], "--ledger", ledger), [RUNS[2], NAMES["step"], MODELS[0][1]])


runner = CliRunner()


def test_columns_chooses_and_markdown_prints_them(ledger: str) -> None:
    result = runner.invoke(
        app,
        [
            "report",
            "--by",
            "model",
            "--columns",
            "model,total_cost",
            "--format",
            "markdown",
            "--ledger",
            ledger,
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "| model | total_cost |" in lines
    # the chat model has events n = 0, 2, 4 at 0.0123 * (n + 1): 0.0123 * (1 + 3 + 5) = 0.1107
    assert "| claude-haiku-4-5-20251001 | $0.1107 |" in lines
    bad = runner.invoke(app, ["report", "--columns", "nope", "--ledger", ledger])
    assert bad.exit_code == 2 and "no column nope" in bad.output and "total_cost" in bad.output


def test_a_run_id_prefix_names_the_run(ledger: str) -> None:
    result = runner.invoke(app, ["runs", "a1b2c3d4e5f6", "--format", "json", "--ledger", ledger])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run_id"] == RUNS[2]


def test_an_ambiguous_prefix_is_answered_with_the_candidates(ledger: str) -> None:
    result = runner.invoke(app, ["runs", "3f9c2b7e", "--ledger", ledger])
    assert result.exit_code == 1
    assert RUNS[0] in result.output and RUNS[1] in result.output and RUNS[2] not in result.output
    missing = runner.invoke(app, ["runs", "ffff", "--ledger", ledger])
    assert missing.exit_code == 1 and "no run 'ffff'" in missing.output
