"""``costtrail keys`` and ``costtrail serve`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from tests.waiting import answering
from typer.testing import CliRunner

from costtrail.auth import DEMO_KEY
from costtrail.cli.main import app

runner = CliRunner()


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    ledger = str(tmp_path / "l.duckdb")
    created = runner.invoke(
        app, ["keys", "create", "--scope", "ingest", "--tenant", "acme", "--ledger", ledger]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("ct_")
    as_json = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--scope",
            "read",
            "--default",
            "environment=prod",
            "--ledger",
            ledger,
            "--format",
            "json",
        ],
    )
    data = json.loads(as_json.stdout)
    assert data["scope"] == "read" and data["defaults"] == {"environment": "prod"}
    listed = json.loads(runner.invoke(app, ["keys", "list", "--ledger", ledger, "--format", "json"]).stdout)
    assert {k["scope"] for k in listed} == {"ingest", "read"}
    assert token not in (tmp_path / "l.duckdb.keys.json").read_text()
    key_id = next(k["key_id"] for k in listed if k["scope"] == "ingest")
    assert runner.invoke(app, ["keys", "revoke", key_id, "--ledger", ledger]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", key_id, "--ledger", ledger]).exit_code == 1
    bad = runner.invoke(app, ["keys", "create", "--scope", "owner", "--ledger", ledger])
    assert bad.exit_code != 0


def test_demo_key_refused_off_loopback() -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--demo", "--ledger", ":memory:"])
    assert result.exit_code != 0
    assert "loopback" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_demo_accepts_events(tmp_path: Path) -> None:
    port = _free_port()
    ledger = tmp_path / "demo.duckdb"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("costtrail")),
            "serve",
            "--port",
            str(port),
            "--ledger",
            str(ledger),
            "--demo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        answering(url + "/healthz", proc)
        event = {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 100}
        auth = {"Authorization": f"Bearer {DEMO_KEY}"}
        r = httpx.post(url + "/v1/events", json=[event], headers=auth, timeout=30)
        assert r.status_code == 200 and r.json()["accepted"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "DEMO MODE" in out and DEMO_KEY in out
