"""Start-up: a command imports only what it needs; --version; help without <bool> or raw markup."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from tests.reports.reports_dataset import load_hand_dataset
from typer.testing import CliRunner

from costtrail.cli.main import COMMANDS, app
from costtrail.ledger.duckdb_store import DuckDBStore

# Servers, charts and wire protocols a read command never needs.
HEAVY = ("fastapi", "starlette", "uvicorn", "plotly", "opentelemetry.proto", "httpx", "openai", "anthropic")

_PROBE = """
import json, sys
heavy = json.loads(sys.argv[2])
sys.argv = ["costtrail", *json.loads(sys.argv[1])]
from costtrail.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print(json.dumps({"code": code, "heavy": [m for m in heavy if m in sys.modules]}), file=sys.stderr)
"""


def imports_of(*args: str, cwd: Path) -> dict[str, object]:
    """Run ``costtrail ARGS`` in a fresh interpreter; its exit code and the heavy modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args)), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, object] = json.loads(done.stderr.strip().splitlines()[-1])
    return result


def test_help_imports_no_server_chart_or_protocol_library(tmp_path: Path) -> None:
    assert imports_of("--help", cwd=tmp_path) == {"code": 0, "heavy": []}


def test_report_and_runs_import_no_server_chart_or_protocol_library(tmp_path: Path) -> None:
    ledger = str(tmp_path / "small.duckdb")
    with DuckDBStore(ledger) as store:
        load_hand_dataset(store)
    assert imports_of("report", "--by", "model", "--ledger", ledger, cwd=tmp_path) == {"code": 0, "heavy": []}
    assert imports_of("runs", "--ledger", ledger, cwd=tmp_path) == {"code": 0, "heavy": []}


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"costtrail {version('costtrail')}"


@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_help_shows_no_bool_type_and_no_raw_markup(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"] if name else ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert "``" not in result.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [(["report"], "--where"), (["gateway"], "--upstream"), (["keys", "create"], "--default")],
)
def test_help_names_a_repeatable_option_without_a_python_type(args: list[str], option: str) -> None:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "list[" not in result.stdout
    line = next(ln for ln in result.stdout.splitlines() if ln.lstrip("│ *").startswith(f"{option} "))
    assert "<str> (repeatable)" in line
