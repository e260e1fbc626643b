"""``event_id`` alone is the idempotency key, on both stores, whatever ``started_at`` a re-send carries.

Through the real doors: ``POST /v1/events`` on a collector over HTTP, and ``costtrail ingest``.
A re-send without ``started_at`` gets a new one from the collector (the time it arrived), so
before the key was the id alone such a re-send was stored and charged again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from costtrail.auth import KeyRing, Scope
from costtrail.cli.main import app as cli
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger import open_store
from costtrail.ledger.store import LedgerStore
from costtrail.settings import Settings

STORES = ("duckdb", "clickhouse")


def _record(event_id: str, **extra: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 12_000,
        "output_tokens": 800,
        "workflow": "support_reply",
        "run_id": "r1",
        **extra,
    }


# One event, priced by genai-prices (not by the code under test).
ONE = calc_price(
    Usage(input_tokens=12_000, output_tokens=800), "gpt-4o-mini", provider_id="openai"
).total_price


@pytest.fixture(scope="module")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


def _url(kind: str, tmp_path: Path, chdb_dir: Path) -> str:
    if kind == "duckdb":
        return str(tmp_path / "ledger.duckdb")
    return f"chdb://{chdb_dir}?database=idem_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=STORES)
def served(
    request: pytest.FixtureRequest, tmp_path: Path, chdb_dir: Path
) -> Iterator[tuple[str, str, LedgerStore]]:
    url = _url(request.param, tmp_path, chdb_dir)
    store = open_store(url)
    keys = KeyRing(tmp_path / "keys.json", secret=b"idempotency!" * 3)
    token = keys.create(Scope.INGEST).token
    with BackgroundServer(create_app(Settings(ledger=url), store, keys=keys)) as server:
        yield server.url, token, store
    store.close()


def _count_and_cost(store: LedgerStore) -> tuple[int, Decimal]:
    row = store.query("SELECT count(*) AS n, sum(cost_usd) AS cost FROM events")[0]
    return int(row["n"]), Decimal(row["cost"])


def test_a_post_sent_twice_without_started_at_is_stored_and_charged_once(
    served: tuple[str, str, LedgerStore],
) -> None:
    url, token, store = served
    body = [_record("evt-a"), _record("evt-b")]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        first = http.post("/v1/events", json=body)
        again = http.post("/v1/events", json=body)
        # Another started_at on a re-send, days away from the first copy's: still the same event.
        moved = http.post("/v1/events", json=[_record("evt-a", started_at="2026-01-02T03:04:05Z")])
    assert first.json()["accepted"] == 2
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 2
    assert moved.json()["accepted"] == 0 and moved.json()["duplicates"] == 1
    assert _count_and_cost(store) == (2, 2 * ONE)


@pytest.mark.parametrize("kind", STORES)
def test_an_event_ingested_three_times_is_stored_and_charged_once(
    kind: str, tmp_path: Path, chdb_dir: Path
) -> None:
    ledger = _url(kind, tmp_path, chdb_dir)
    file = tmp_path / "events.ndjson"
    file.write_text(json.dumps(_record("evt-once")) + "\n")
    runner = CliRunner()
    answers = []
    for _ in range(3):
        result = runner.invoke(cli, ["ingest", str(file), "--ledger", ledger, "--format", "json"])
        assert result.exit_code == 0, result.output
        answers.append(json.loads(result.stdout))
    assert [(a["accepted"], a["duplicates"]) for a in answers] == [(1, 0), (0, 1), (0, 1)]
    store = open_store(ledger)
    try:
        assert _count_and_cost(store) == (1, ONE)
    finally:
        store.close()
