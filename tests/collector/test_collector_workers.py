"""Event batches prepared in worker processes: same answers and rows as in one process, and robust."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from tests.waiting import answering

from costtrail.auth import KeyRing, Scope
from costtrail.collector import Limits, create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings

T0 = "2026-05-01T12:00:00+00:00"
COSTTRAIL = str(Path(sys.executable).with_name("costtrail"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _records() -> list[Any]:
    """A batch with every rule in play: aliases, unknown fields, bad records, reported costs."""
    return [
        {
            "event_id": "a1",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "started_at": T0,
            "prompt_tokens": 1200,
        },
        {
            "event_id": "a2",
            "model": "claude-3-5-sonnet-20241022",
            "started_at": T0,
            "input_tokens": 10,
            "shop": 7,
        },
        {"event_id": "a3", "model": "gpt-4o", "started_at": T0, "input_tokens": -5},  # bad: negative
        {"event_id": "a4", "kind": "llm", "started_at": T0, "input_tokens": 5},  # bad: no model
        "not an object",
        {"event_id": "a5", "model": "gpt-4o", "started_at": T0, "output_tokens": 12345678901234567890123},
        {"event_id": "a6", "kind": "tool", "tool_name": "search", "started_at": T0, "cost_usd": "0.0025"},
        {
            "event_id": "a7",
            "model": "no-such-model-x",
            "started_at": T0,
            "input_tokens": 3,
            "tenant_id": "acme",
        },
        {"event_id": "a8", "model": "gpt-4o-mini", "started_at": T0, "tenant_id": "other", "input_tokens": 1},
        {"event_id": "a1", "model": "gpt-4o-mini", "started_at": T0, "input_tokens": 99},  # repeat in batch
    ]


class Served:
    def __init__(self, tmp: Path, workers: int) -> None:
        self.store = DuckDBStore(tmp / f"ledger-{workers}.duckdb")
        keys = KeyRing(tmp / f"keys-{workers}.json", secret=b"test-secret" * 3)
        self.ingest = keys.create(Scope.INGEST).token
        self.acme = keys.create(Scope.INGEST, tenant="acme").token
        limits = Limits(max_body_bytes=256 * 1024, max_decoded_bytes=1024 * 1024, max_records=50)
        app = create_app(
            Settings(ledger=str(tmp / "x.duckdb")), self.store, keys=keys, limits=limits, workers=workers
        )
        self.app = app
        self.server = BackgroundServer(app).start()

    def post(self, token: str, content: bytes, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}
        return httpx.post(self.server.url + "/v1/events", content=content, headers=headers, timeout=60)

    def rows(self) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT * EXCLUDE (ingested_at) FROM events ORDER BY event_uuid")
        return [{k: v for k, v in r.items() if k != "started_at" or v is not None} for r in rows]

    def close(self) -> None:
        self.server.stop()
        self.store.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    one, pooled = Served(tmp_path, 0), Served(tmp_path, 1)
    yield one, pooled
    one.close()
    pooled.close()


def _both(pair: tuple[Served, Served], token: str, content: bytes, **headers: str) -> tuple[int, Any]:
    one, pooled = pair
    a = one.post(getattr(one, token), content, **headers)
    b = pooled.post(getattr(pooled, token), content, **headers)
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    return a.status_code, a.json()


def test_workers_give_the_same_answers_and_rows(pair: tuple[Served, Served]) -> None:
    body = json.dumps(_records()).encode()
    status, answer = _both(pair, "ingest", body)
    assert status == 200
    assert answer["accepted"] == 5 and answer["duplicates"] == 1 and answer["unpriced"] == 1
    assert [(p["index"], p["field"]) for p in answer["rejected"]] == [
        (2, "input_tokens"),
        (3, "(record)"),
        (4, "(record)"),
        (5, "output_tokens"),
    ]
    # The tenant key: its tenant filled in, another tenant refused; gzip and NDJSON.
    ndjson = "\n".join(json.dumps(r) for r in _records()[6:9]).encode()
    status, tenant_answer = _both(
        pair,
        "acme",
        gzip.compress(ndjson),
        **{"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"},
    )
    assert status == 200 and tenant_answer["duplicates"] == 2
    assert tenant_answer["rejected"][0]["field"] == "tenant_id"
    one, pooled = pair
    assert one.rows() == pooled.rows()
    stored = {r["event_id"] or uuid.UUID(bytes=r["event_uuid"].bytes).hex: r for r in pooled.rows()}
    assert stored["a1"]["input_tokens"] == 1200  # the alias, and the first copy kept
    assert json.loads(stored["a2"]["attributes"]) == {"shop": "7"}
    assert stored["a7"]["unpriced"] is True and stored["a7"]["cost_usd"] is None


def test_bad_bodies_get_the_same_errors(pair: tuple[Served, Served]) -> None:
    assert _both(pair, "ingest", b'[{"model": "gpt-4o",')[0] == 400
    status, answer = _both(pair, "ingest", b"[NaN]")
    assert status == 422 and answer["rejected"][0]["field"] == "(record)"
    status, answer = _both(pair, "ingest", json.dumps([{"model": "m"}] * 51).encode())
    assert status == 413 and answer["error"]["code"] == "too_many_records"
    status, answer = _both(pair, "ingest", b'"a string"')
    assert status == 422 and answer["error"]["code"] == "wrong_type"


def test_a_worker_killed_mid_run_costs_no_request(pair: tuple[Served, Served]) -> None:
    _, pooled = pair
    body = json.dumps(_records()[:2]).encode()
    assert pooled.post(pooled.ingest, body).status_code == 200  # the workers are up
    children = psutil.Process().children()
    spawned = [p for p in children if "spawn_main" in " ".join(p.cmdline())]
    assert spawned, [p.cmdline() for p in children]
    for worker in spawned:
        worker.kill()
    psutil.wait_procs(spawned, timeout=10)
    fresh = [{**r, "event_id": f"{r['event_id']}-after"} for r in _records()[:2]]
    answer = pooled.post(pooled.ingest, json.dumps(fresh).encode())
    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    assert pooled.app.state.collector.pool.replaced == 1
    again = pooled.post(pooled.ingest, json.dumps(fresh).encode())  # through the new pool
    assert again.status_code == 200 and again.json()["duplicates"] == 2


@contextmanager
def _serve_with_a_worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[psutil.Process]]]:
    """``costtrail serve --workers 1`` as a user runs it, once it answers; killed afterwards if still up."""
    port = _free_port()
    args = [COSTTRAIL, "serve", "--ledger", str(tmp_path / "l.duckdb"), "--port", str(port), "--workers", "1"]
    # As a context, Popen closes its pipes on the way out, whichever way the test ended.
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)) as proc:
        try:
            answering(f"http://127.0.0.1:{port}/healthz", proc)
            owner = psutil.Process(proc.pid)
            workers = [p for p in owner.children() if "spawn_main" in " ".join(p.cmdline())]
            assert workers, "no worker process started"
            yield proc, workers
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_workers_exit_when_their_owner_is_killed(tmp_path: Path) -> None:
    with _serve_with_a_worker(tmp_path) as (proc, workers):
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"workers outlived their owner: {alive}"


def test_serve_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """Ctrl-C: the owner and its workers exit 0, and nothing but the banner reaches the terminal."""
    with _serve_with_a_worker(tmp_path) as (proc, workers):
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
        # Objects frozen out of the garbage collector's sight must be let go before exit, or
        # DuckDB's bindings print pages of "nanobind: leaked ..." (owner and workers alike).
        assert b"leaked" not in err, err.decode(errors="replace")[:2000]
