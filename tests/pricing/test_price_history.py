"""Price history: repricing keeps every earlier price, says newly priced apart from changed, and a
report can be asked "as priced on DATE". Both stores, through ``costtrail ingest / reprice /
report`` (CliRunner) and the collector's ``GET /v1/report`` over HTTP.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
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
from costtrail.ledger import open_store
from costtrail.settings import Settings

runner = CliRunner()
LIST = calc_price(Usage(input_tokens=100_000), "gpt-4o", provider_id="openai").total_price  # $0.25
CARD_20 = """
version: contract-a
models:
  - {id: gpt4o, provider: openai, model: "gpt-4o*", discount_percent: 20}
  - {id: mystery, provider: openai, model: mystery-model-x, prices: {input_mtok: 1.0}}
"""
CARD_50 = CARD_20.replace("contract-a", "contract-b").replace("discount_percent: 20", "discount_percent: 50")
EVENTS = [
    {"event_id": "e-list", "provider": "openai", "model": "gpt-4o", "input_tokens": 100_000,
     "started_at": "2026-06-01T10:00:00Z"},
    {"event_id": "e-new", "provider": "openai", "model": "mystery-model-x", "input_tokens": 1_000_000,
     "started_at": "2026-06-01T11:00:00Z"},
]  # fmt: skip


def _invoke(*args: str) -> Any:
    result = runner.invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _costs(data: dict[str, Any]) -> dict[str, Decimal | None]:
    return {r["model"]: None if r["total_cost"] is None else Decimal(r["total_cost"]) for r in data["rows"]}


@pytest.fixture(params=("duckdb", "clickhouse"))
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "ledger.duckdb")
    return f"chdb://{tmp_path / 'chdb'}?database=hist_{uuid.uuid4().hex[:8]}"


def test_reprice_keeps_every_earlier_price_and_reports_as_priced_on(ledger: str, tmp_path: Path) -> None:
    (tmp_path / "events.ndjson").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    (tmp_path / "a.yaml").write_text(CARD_20)
    (tmp_path / "b.yaml").write_text(CARD_50)
    _invoke("ingest", str(tmp_path / "events.ndjson"), "--ledger", ledger)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    before = _costs(_invoke("report", "--by", "model", "--ledger", ledger))
    assert before == {"gpt-4o": LIST, "mystery-model-x": None}

    summary = _invoke("reprice", "--rate-card", str(tmp_path / "a.yaml"), "--ledger", ledger)
    assert summary["newly_priced_events"] == 1
    assert Decimal(summary["newly_priced_usd"]) == Decimal("1")  # 1M tokens x $1.00/M
    assert summary["price_changed_events"] == 1
    assert Decimal(summary["price_changed_old_usd"]) == LIST  # $0.25
    assert Decimal(summary["price_changed_new_usd"]) == LIST * Decimal("0.8")  # 20% off: $0.20
    _invoke("reprice", "--rate-card", str(tmp_path / "b.yaml"), "--ledger", ledger)

    now = _costs(_invoke("report", "--by", "model", "--ledger", ledger))
    assert now == {"gpt-4o": LIST * Decimal("0.5"), "mystery-model-x": Decimal("1")}
    then = _costs(_invoke("report", "--by", "model", "--ledger", ledger, "--as-priced-on", yesterday))
    assert then == before  # the prices in force at the end of yesterday: before both reprices
    store = open_store(ledger)
    try:
        kept = store.query("SELECT cost_usd FROM price_history ORDER BY superseded_at, cost_usd")
    finally:
        store.close()
    # e-list: 0.25 then 0.20; e-new: unpriced (NULL), then $1 under contract-a (the second card
    # priced it the same, under another price_ref): every earlier price is kept.
    assert sorted((r["cost_usd"] for r in kept), key=lambda c: (c is None, c)) == [
        LIST * Decimal("0.8"),
        LIST,
        Decimal("1"),
        None,
    ]


def test_read_api_as_priced_on(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.duckdb")
    (tmp_path / "events.ndjson").write_text(json.dumps(EVENTS[0]) + "\n")
    (tmp_path / "a.yaml").write_text(CARD_20)
    _invoke("ingest", str(tmp_path / "events.ndjson"), "--ledger", ledger)
    _invoke("reprice", "--rate-card", str(tmp_path / "a.yaml"), "--ledger", ledger)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    store = open_store(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"history-read" * 3)
    token = keys.create(Scope.READ).token
    try:
        with BackgroundServer(create_app(Settings(ledger=ledger), store, keys=keys)) as server:
            ask = {"by": "model", "as_priced_on": yesterday}
            answer = httpx.get(
                server.url + "/v1/report", params=ask, headers={"Authorization": f"Bearer {token}"}
            )
            bad = httpx.get(
                server.url + "/v1/report",
                params={"as_priced_on": "June"},
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        store.close()
    assert _costs(answer.json()) == {"gpt-4o": LIST}
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "as_priced_on"
