"""`costtrail serve --ledger chdb://...`: the same collector and read API on the ClickHouse store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from tests.waiting import answering

from costtrail.auth import DEMO_KEY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_clickhouse_ingests_once_and_reports(tmp_path: Path) -> None:
    port = _free_port()
    ledger = f"chdb://{tmp_path / 'ch'}?database=served"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("costtrail")),
            "serve",
            "--port",
            str(port),
            "--ledger",
            ledger,
            "--demo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}
    try:
        url = f"http://127.0.0.1:{port}"
        answering(url + "/healthz", proc)
        events = [
            {
                "event_id": f"e{i}",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "workflow": "support_reply",
                "run_id": f"r{i // 2}",
                # A re-sent event carries its original time (the dedup key is id + time range).
                "started_at": f"2026-11-20T10:00:0{i}Z",
                "input_tokens": 1000,
                "output_tokens": 100,
            }
            for i in range(6)
        ]
        first = httpx.post(url + "/v1/events", json=events, headers=auth, timeout=60)
        again = httpx.post(url + "/v1/events", json=events[:3], headers=auth, timeout=60)
        assert first.json()["accepted"] == 6, first.text
        assert again.json()["duplicates"] == 3, again.text
        report = httpx.get(url + "/v1/report", params={"by": "workflow"}, headers=auth, timeout=60).json()
        (row,) = report["rows"]
        assert (row["workflow"], row["events"], row["runs"]) == ("support_reply", 6, 3)
        assert row["total_cost"] != "0" and report["unpriced"]["events"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert f"ledger chdb://{tmp_path / 'ch'}?database=served" in out
