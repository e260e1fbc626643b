"""`costtrail gateway --controls`: budgets enforced by the real command, starting from the ledger's spend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from tests.waiting import answering

from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event

CONTROLS = """
budgets:
  - name: prod-daily
    scope: {environment: prod}
    period: day
    limit_usd: 1.00
    action: block
    owner: platform@example.com
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "costtrail.cli.main", "gateway", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COSTTRAIL_CONTROLS": ""},
    )
    try:
        answering(f"http://127.0.0.1:{port}/healthz", proc, 30)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc


def test_budget_already_spent_in_the_ledger_blocks_the_first_call(tmp_path: Path, fake: FakeProvider) -> None:
    ledger = tmp_path / "ledger.duckdb"
    with DuckDBStore(ledger) as store:
        store.append_events(
            [
                Event(
                    provider="openai",
                    model="gpt-4o-mini",
                    environment="prod",
                    started_at=datetime.now(UTC),
                    cost_usd=Decimal("1.25"),
                )
            ]
        )
    controls = tmp_path / "controls.yaml"
    controls.write_text(CONTROLS)
    port = _free_port()
    proc = _start(
        [
            "--upstream",
            f"openai={fake.openai_base_url}",
            "--ledger",
            str(ledger),
            "--controls",
            str(controls),
            "--default",
            "environment=prod",
        ],
        port,
    )
    try:
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0
        ) as client:
            with pytest.raises(openai.RateLimitError) as denied:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            assert "prod-daily" in str(denied.value)
            assert denied.value.response.headers.get("retry-after")
            # Traffic outside the budget's scope still passes.
            ok = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"X-Costtrail-Environment": "staging"},
            )
            assert ok.usage is not None and ok.usage.prompt_tokens > 0
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_a_bad_controls_file_is_named(tmp_path: Path) -> None:
    controls = tmp_path / "controls.yaml"
    controls.write_text("budgets:\n  - name: x\n    period: fortnight\n    limit_usd: 1\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "costtrail.cli.main",
            "gateway",
            "--upstream",
            "openai=http://127.0.0.1:9",
            "--controls",
            str(controls),
            "--ledger",
            str(tmp_path / "l.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert done.returncode != 0
    assert "controls.yaml" in done.stderr and "period" in done.stderr, done.stderr
