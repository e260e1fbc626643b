"""Unpriced never renders as a number, and money leaves as plain decimal strings.

Through the real doors: ``costtrail ingest`` then ``costtrail report`` / ``costtrail runs`` (JSON,
CSV, table) with CliRunner, and the collector's read API over HTTP. Expected costs come from
``genai_prices.calc_price``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from costtrail.auth import KeyRing, Scope
from costtrail.cli.main import app as cli
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings

runner = CliRunner()
T0 = "2026-06-01T10:00:00Z"
# One input token of gpt-4o-mini: 1.5e-7 USD, which str(Decimal) spells "1.50000E-7".
TINY = calc_price(Usage(input_tokens=1), "gpt-4o-mini", provider_id="openai").total_price
EXPONENT = re.compile(r"\d[eE][+-]?\d")


def _event(event_id: str, model: str, run_id: str, workflow: str, tokens: int, second: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "provider": "openai",
        "model": model,
        "input_tokens": tokens,
        "workflow": workflow,
        "run_id": run_id,
        "started_at": f"2026-06-01T10:00:{second:02d}Z",
    }


EVENTS = [
    # A run and a model whose events are all unpriced (no price for this model anywhere).
    _event("u1", "mystery-model-x", "run-unpriced", "triage", 500, 1),
    _event("u2", "mystery-model-x", "run-unpriced", "triage", 700, 2),
    # A mixed run and workflow: one priced event, one unpriced.
    _event("p1", "gpt-4o-mini", "run-mixed", "support", 1, 3),
    _event("u3", "mystery-model-x", "run-mixed", "support", 900, 4),
]


def _invoke(*args: str) -> str:
    result = runner.invoke(cli, list(args), env={"COLUMNS": "250"})  # tables wide enough to read
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("unpriced")
    file = folder / "events.ndjson"
    file.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    path = str(folder / "ledger.duckdb")
    _invoke("ingest", str(file), "--ledger", path)
    return path


def _money_strings(data: Any) -> Iterator[str]:
    """Every string in a JSON document that looks like a number (where money goes)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from _money_strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _money_strings(value)
    elif isinstance(data, str) and re.fullmatch(r"-?[0-9.]+([eE][+-]?\d+)?", data):
        yield data


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in rows}


def test_report_by_model_json_has_null_for_an_all_unpriced_model(ledger: str) -> None:
    data = json.loads(_invoke("report", "--by", "model", "--ledger", ledger, "--format", "json"))
    rows = _by(data["rows"], "model")
    assert rows["mystery-model-x"]["total_cost"] is None
    assert rows["mystery-model-x"]["unpriced_events"] == 3
    assert Decimal(rows["gpt-4o-mini"]["total_cost"]) == TINY
    assert rows["gpt-4o-mini"]["total_cost"] == "0.000000150000"  # plain, not "1.50000E-7"
    assert not [s for s in _money_strings(data) if EXPONENT.search(s)]


def test_a_mixed_group_shows_its_priced_cost_and_unpriced_count(ledger: str) -> None:
    data = json.loads(_invoke("report", "--by", "workflow", "--ledger", ledger, "--format", "json"))
    rows = _by(data["rows"], "workflow")
    assert Decimal(rows["support"]["total_cost"]) == TINY and rows["support"]["unpriced_events"] == 1
    assert rows["triage"]["total_cost"] is None and rows["triage"]["unpriced_events"] == 2
    table = _invoke("report", "--by", "workflow", "--ledger", ledger)
    support = next(line for line in table.splitlines() if "support" in line)
    assert "$0.0000" in support and "unpriced" not in support


def test_report_csv_leaves_an_unpriced_cost_empty(ledger: str) -> None:
    rows = list(
        csv.DictReader(io.StringIO(_invoke("report", "--by", "model", "--ledger", ledger, "--format", "csv")))
    )
    by_model = _by(rows, "model")
    assert by_model["mystery-model-x"]["total_cost"] == ""  # CSV's null: never "0"
    assert by_model["gpt-4o-mini"]["total_cost"] == "0.000000150000"


def test_report_table_says_unpriced_not_zero(ledger: str) -> None:
    table = _invoke("report", "--by", "model", "--ledger", ledger)
    line = next(line for line in table.splitlines() if "mystery-model-x" in line)
    assert "unpriced" in line and "$0" not in line


def test_runs_of_an_all_unpriced_run(ledger: str) -> None:
    shown = _invoke("runs", "run-unpriced", "--ledger", ledger)
    assert "total=unpriced" in shown and "$0.00" not in shown
    data = json.loads(_invoke("runs", "run-unpriced", "--ledger", ledger, "--format", "json"))
    assert data["total_cost"] is None
    assert [s["cumulative_cost"] for s in data["steps"]] == [None, None]
    mixed = _invoke("runs", "run-mixed", "--ledger", ledger)
    assert "(+1 unpriced)" in mixed


def test_read_api_sends_null_and_plain_decimals(ledger: str, tmp_path: Path) -> None:
    store = DuckDBStore(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"money-at-edges" * 3)
    token = keys.create(Scope.READ).token
    try:
        with BackgroundServer(create_app(Settings(ledger=ledger), store, keys=keys)) as server:
            headers = {"Authorization": f"Bearer {token}"}
            report = httpx.get(server.url + "/v1/report", params={"by": "model"}, headers=headers).json()
            run = httpx.get(server.url + "/v1/runs/run-mixed", headers=headers).json()
            unpriced_run = httpx.get(server.url + "/v1/runs/run-unpriced", headers=headers).json()
    finally:
        store.close()
    rows = _by(report["rows"], "model")
    assert rows["mystery-model-x"]["total_cost"] is None
    assert rows["gpt-4o-mini"]["total_cost"] == "0.000000150000"
    assert run["total_cost"] == "0.000000150000" and unpriced_run["total_cost"] is None
    strings = [*_money_strings(report), *_money_strings(run)]
    assert strings and not [s for s in strings if EXPONENT.search(s) or s.endswith("E-12")]
