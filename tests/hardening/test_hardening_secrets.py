"""Secrets: after a demo run plus SDK and gateway traffic with provider keys, no key or prompt is kept.

Everything runs as a user runs it: ``costtrail serve`` and ``costtrail gateway``
as child processes (their stdout/stderr captured to files), ``costtrail demo``,
the SDK shipping to the collector (with a spool), the official clients with
distinctive fake provider keys, wrong keys on purpose, and exports (read API,
dashboard CSV, FOCUS). Then every file written (ledgers, WAL, key files,
spools, logs, exports) is scanned byte by byte, and every text column of the
ledgers through SQL (DuckDB may compress strings on disk).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.hardening.hardening_procs import COSTTRAIL, CollectorProcess, GatewayProcess
from tests.waiting import wait_until

import costtrail
from costtrail.auth import KeyRing, Scope
from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import Recorder, SdkSettings, make_sink


def _text_columns(store: DuckDBStore) -> list[tuple[str, str]]:
    rows = store.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    )
    return [(r["table_name"], r["column_name"]) for r in rows]


def _ledger_hits(path: Path, needles: dict[str, str]) -> list[str]:
    hits = []
    with DuckDBStore(path, read_only=True) as store:
        for table, column in _text_columns(store):
            for name, needle in needles.items():
                sql = f"SELECT count(*) AS n FROM {table} WHERE strpos({column}, '{needle}') > 0"
                if store.query(sql)[0]["n"]:
                    hits.append(f"{path.name}: {table}.{column} holds {name}")
    return hits


def _file_hits(root: Path, needles: dict[str, str]) -> list[str]:
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [
            f"{path.relative_to(root)} holds {name}" for name, n in needles.items() if n.encode() in data
        ]
    return hits


def test_no_key_or_prompt_is_kept_anywhere(tmp_path: Path) -> None:
    run = secrets.token_hex(6)
    openai_key = f"sk-test-SECRET-{run}-openai"
    anthropic_key = f"sk-ant-test-SECRET-{run}-anthropic"
    azure_key = f"azure-SECRET-{run}-key"
    sdk_key = f"sk-test-SECRET-{run}-sdk"
    prompt = f"PROMPT-CANARY-{run} please summarise the ticket"
    ledger = tmp_path / "central.duckdb"
    ring = KeyRing.for_ledger(str(ledger))
    ingest = ring.create(Scope.INGEST, label="gateway").token
    read = ring.create(Scope.ADMIN, label="finance").token
    wrong = f"ct_{secrets.token_hex(6)}_WRONGKEY{run}"

    collector = CollectorProcess(ledger, tmp_path / "logs" / "collector.log")
    (tmp_path / "logs").mkdir()
    collector.start()
    completions: list[str] = []
    with FakeProvider() as fake:
        gateway = GatewayProcess(
            tmp_path / "logs" / "gateway.log",
            [
                "--upstream",
                f"openai={fake.openai_base_url}",
                "--upstream",
                f"anthropic={fake.base_url}",
                "--upstream",
                f"azure={fake.base_url}",
                "--collector",
                collector.url,
                "--api-key",
                ingest,
                "--spool-dir",
                str(tmp_path / "gateway-spool"),
            ],
        ).start()
        try:
            oa = openai.OpenAI(base_url=gateway.url + "/v1", api_key=openai_key, max_retries=0)
            reply = oa.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
            )
            completions.append(reply.choices[0].message.content or "")
            stream = oa.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": prompt}],
                stream=True,
                stream_options={"include_usage": True},
            )
            completions.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
            oa.embeddings.create(model="text-embedding-3-small", input=[prompt])
            oa.responses.create(model="gpt-4o-mini", input=prompt)
            an = anthropic.Anthropic(base_url=gateway.url, api_key=anthropic_key, max_retries=0)
            message = an.messages.create(
                model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": prompt}]
            )
            completions.append("".join(getattr(b, "text", "") for b in message.content))
            az = openai.AzureOpenAI(
                azure_endpoint=gateway.url, api_key=azure_key, api_version="2024-10-21", max_retries=0
            )
            az.chat.completions.create(model="prod-chat", messages=[{"role": "user", "content": prompt}])
            # A provider refusing the key: the error path must not log it either.
            failing = openai.OpenAI(
                base_url=gateway.url + "/v1",
                api_key=openai_key,
                max_retries=0,
                default_headers={"x-fake-status": "401"},
            )
            with pytest.raises(openai.AuthenticationError):
                failing.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )

            # The SDK calling the provider directly and shipping to the collector.
            settings = SdkSettings(
                endpoint=collector.url,
                api_key=ingest,
                spool_dir=str(tmp_path / "sdk-spool"),
                flush_interval=0.05,
            )
            recorder = Recorder(make_sink(settings))
            direct = costtrail.instrument(
                openai.OpenAI(base_url=fake.openai_base_url, api_key=sdk_key), recorder=recorder
            )
            with recorder.run("support_reply", customer_id="c-1"):
                for _ in range(3):
                    direct.chat.completions.create(
                        model="gpt-4o", messages=[{"role": "user", "content": prompt}]
                    )
            assert recorder.flush(10)
            recorder.close(10)
        finally:
            gateway.stop()

    # Wrong costtrail keys at the collector, in every header it reads.
    for headers in ({"Authorization": f"Bearer {wrong}"}, {"X-Api-Key": wrong}, {"X-Costtrail-Key": wrong}):
        assert httpx.get(collector.url + "/v1/report", headers=headers).status_code == 401
    assert httpx.post(collector.url + "/login", data={"key": wrong}).status_code == 401

    exports = tmp_path / "exports"
    exports.mkdir()
    auth = {"Authorization": f"Bearer {read}"}

    report: dict[str, Any] = {}

    def all_reported() -> bool:
        report.clear()
        report.update(
            httpx.get(
                collector.url + "/v1/report", params={"by": "model", "since": "1d"}, headers=auth
            ).json()
        )
        return sum(int(r.get("events", 0) or 0) for r in report.get("rows", [])) >= 8

    wait_until(all_reported, 20, interval=0.2)
    (exports / "report.json").write_text(httpx.get(collector.url + "/v1/report", headers=auth).text)
    with httpx.Client(base_url=collector.url, timeout=30) as browser:
        assert browser.post("/login", data={"key": read, "next": "/"}).status_code == 303
        (exports / "runs.html").write_text(browser.get("/runs").text)
        (exports / "focus.csv").write_text(browser.get("/finance/focus.csv").text)
    collector.stop()

    demo = subprocess.run(
        [
            COSTTRAIL,
            "demo",
            "--ledger",
            str(tmp_path / "demo.duckdb"),
            "--fresh",
            "--days",
            "2",
            "--runs-per-day",
            "3",
            "--latency-scale",
            "0",
        ],
        capture_output=True,
        timeout=300,
    )
    (tmp_path / "logs" / "demo.log").write_bytes(demo.stdout + demo.stderr)
    assert demo.returncode == 0, demo.stderr[-2000:]
    exported = subprocess.run(
        [
            COSTTRAIL,
            "export",
            "focus",
            "--ledger",
            str(ledger),
            "--output",
            str(exports / "focus-cli.csv"),
            "--period",
            time.strftime("%Y-%m", time.gmtime()),
        ],
        capture_output=True,
        timeout=120,
    )
    assert exported.returncode == 0 and (exports / "focus-cli.csv").stat().st_size > 0, exported.stderr

    with DuckDBStore(ledger, read_only=True) as store:
        stored = store.query("SELECT count(*) AS n FROM events")[0]["n"]
    spooled = sorted(p.name for p in (tmp_path / "gateway-spool").rglob("*") if p.is_file())
    # The traffic did reach the ledger: the scan below looks at real rows.
    assert stored >= 8, (report, (tmp_path / "logs" / "gateway.log").read_text()[-3000:], spooled)

    needles = {
        "the OpenAI key": openai_key,
        "the Anthropic key": anthropic_key,
        "the Azure OpenAI key": azure_key,
        "the SDK's provider key": sdk_key,
        "the shared secret part of the keys": f"SECRET-{run}",
        "the ingest key": ingest,
        "the ingest key's secret": ingest.split("_", 2)[2],
        "the admin key": read,
        "the admin key's secret": read.split("_", 2)[2],
        "the wrong key": wrong,
        "the demo's OpenAI key": "sk-demo",
        "the demo's Anthropic key": "sk-ant-demo",
        "the prompt": f"PROMPT-CANARY-{run}",
        **{f"completion {i}": c for i, c in enumerate(completions) if len(c) > 20},
    }
    assert len([k for k in needles if k.startswith("completion")]) >= 2
    hits = _file_hits(tmp_path, needles)
    for path in (ledger, tmp_path / "demo.duckdb"):
        hits += _ledger_hits(path, needles)
    assert hits == []
