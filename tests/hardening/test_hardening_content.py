"""Prompt/completion content: absent by default; with content storage on, in a separate purgeable table."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.hardening.hardening_procs import COSTTRAIL
from tests.waiting import wait_until

from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.content import purge_content
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.rows import restore_event_id
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.sink import QueuedSink
from costtrail.settings import Settings


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _traffic(fake: FakeProvider, store: DuckDBStore, *, store_content: bool) -> tuple[str, list[str]]:
    """Two calls (one streamed) through a gateway writing ``store``; returns the prompt and the replies."""
    prompt = f"CANARY-{secrets.token_hex(6)} what is my balance?"
    sink = QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05)
    config = GatewayConfig(upstreams={"openai": fake.openai_base_url}, store_content=store_content)
    app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink)
    replies = []
    with BackgroundServer(app) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )
        replies.append(reply.choices[0].message.content or "")
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
        )
        replies.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
        assert _wait_received(sink, 2)
    sink.close(10)
    return prompt, replies


def _wait_received(sink: QueuedSink, n: int) -> bool:
    wait_until(lambda: sink.stats()["received"] >= n, 10)
    return sink.flush(10)


def _text_anywhere(store: DuckDBStore, needle: str) -> list[str]:
    columns = store.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    )
    hits = []
    for c in columns:
        sql = f"SELECT count(*) AS n FROM {c['table_name']} WHERE strpos({c['column_name']}, '{needle}') > 0"
        if store.query(sql)[0]["n"]:
            hits.append(f"{c['table_name']}.{c['column_name']}")
    return hits


def test_content_is_not_kept_by_default(fake: FakeProvider, tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    prompt, replies = _traffic(fake, store, store_content=False)
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 2
    tables = store.query("SELECT table_name FROM information_schema.tables WHERE table_name = 'content'")
    assert tables == []
    assert _text_anywhere(store, prompt.split()[0]) == []
    assert all(_text_anywhere(store, r) == [] for r in replies if len(r) > 20)
    store.close()


def test_content_storage_keeps_text_apart_and_purges_it(fake: FakeProvider, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    store = DuckDBStore(ledger)
    prompt, replies = _traffic(fake, store, store_content=True)
    rows = store.query("SELECT event_id, prompt, completion FROM content ORDER BY stored_at")
    events = store.query("SELECT event_uuid, event_id FROM events")
    assert {r["event_id"] for r in rows} == {restore_event_id(e["event_uuid"], e["event_id"]) for e in events}
    assert len(rows) == 2 and all(prompt in r["prompt"] for r in rows)
    assert replies[0] in rows[0]["completion"]
    assert all(piece in rows[1]["completion"] for piece in replies[1].split()[:3])  # SSE text, as sent
    # Nothing of the text is in the events: it lives only in the content table.
    hits = _text_anywhere(store, prompt.split()[0])
    assert "content.prompt" in hits and set(hits) <= {"content.prompt", "content.completion"}, hits
    assert purge_content(store) == 2
    assert store.query("SELECT count(*) AS n FROM content")[0]["n"] == 0
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 2  # costs stay
    store.close()


def test_purge_content_command(fake: FakeProvider, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    store = DuckDBStore(ledger)
    _traffic(fake, store, store_content=True)
    store.close()
    kept = subprocess.run(
        [COSTTRAIL, "purge-content", "--ledger", str(ledger), "--before", "2000-01-01", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert kept.returncode == 0, kept.stderr
    assert '"deleted": 0' in kept.stdout
    purged = subprocess.run(
        [COSTTRAIL, "purge-content", "--ledger", str(ledger), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert purged.returncode == 0 and '"deleted": 2' in purged.stdout, purged.stdout + purged.stderr
    with DuckDBStore(ledger, read_only=True) as reopened:
        assert reopened.query("SELECT count(*) AS n FROM content")[0]["n"] == 0
        assert reopened.query("SELECT count(*) AS n FROM events")[0]["n"] == 2
