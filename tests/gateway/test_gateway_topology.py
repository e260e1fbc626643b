"""Many writers, one ledger: two gateways and an SDK app ship to the collector that owns the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anthropic
import openai
from tests.waiting import wait_until

from costtrail.auth import KeyRing, Scope
from costtrail.cli.gateway_cmds import build_sink
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings


def test_two_gateways_share_one_ledger_through_the_collector(tmp_path: Path, fake: FakeProvider) -> None:
    ledger = tmp_path / "central.duckdb"
    store = DuckDBStore(ledger)
    keys = KeyRing(tmp_path / "keys.json", secret=b"t" * 32)
    token = keys.create(Scope.INGEST).token
    collector = BackgroundServer(create_app(Settings(ledger=str(ledger)), store, keys=keys)).start()
    config = GatewayConfig(upstreams={"openai": fake.openai_base_url, "anthropic": fake.base_url})
    sinks = [build_sink(collector.url, token, None, tmp_path / f"spool{i}") for i in range(2)]
    gateways = [
        BackgroundServer(create_gateway_app(Settings(), config, sink=sink), server_header=False).start()
        for sink in sinks
    ]
    try:
        # The file has one owner: another process cannot open it, and is told to use the collector.
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from costtrail.ledger.duckdb_store import DuckDBStore; DuckDBStore({str(ledger)!r})",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert probe.returncode != 0 and "costtrail serve" in probe.stderr
        for i, gw in enumerate(gateways):
            oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-x", max_retries=0)
            an = anthropic.Anthropic(base_url=gw.url, api_key="sk-ant-x", max_retries=0)
            for _ in range(5):
                oa.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"X-Costtrail-Workflow": f"gw{i}"},
                )
                an.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=20,
                    messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"X-Costtrail-Workflow": f"gw{i}"},
                )
            oa.close()
            an.close()

        def all_stored() -> bool:
            for sink in sinks:
                sink.flush(1)
            return bool(store.query("SELECT count(*) AS n FROM events")[0]["n"] >= 20)

        wait_until(all_stored, 20)
        rows = store.query("SELECT workflow, provider, count(*) AS n FROM events GROUP BY ALL ORDER BY ALL")
        assert rows == [
            {"workflow": w, "provider": p, "n": 5} for w in ("gw0", "gw1") for p in ("anthropic", "openai")
        ]
        assert store.query("SELECT count(*) AS n FROM events WHERE unpriced OR cost_usd <= 0")[0]["n"] == 0
    finally:
        for gw in gateways:
            gw.stop()
        for sink in sinks:
            sink.close(5)
        collector.stop()
        store.close()
