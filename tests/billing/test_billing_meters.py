"""Meter exports through the official Stripe, CloudEvents (OpenMeter) and Lago clients, each against
a local server speaking the service's wire format: valid records, a re-run sends 0, a failure
midway resumes without duplicates, --dry-run writes a file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from meter_servers import Ledger, lago_app, openmeter_app, stripe_app
from typer.testing import CliRunner

from costtrail.billing.meters import SentLog, export_records, meter_records, parse_meters
from costtrail.cli.main import app
from costtrail.collector.server import BackgroundServer
from costtrail.export.meters import LagoSink, OpenMeterSink, StripeSink
from costtrail.finance import Period
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event

NOV = Period.parse("2026-11")
METERS = parse_meters(["output_tokens=llm_output_tokens", "calls"])
TARGETS: dict[str, tuple[Callable[[Ledger], FastAPI], Callable[[str], Any]]] = {
    "stripe": (stripe_app, lambda url: StripeSink("sk_test_local", url, retries=0)),
    "openmeter": (openmeter_app, lambda url: OpenMeterSink("om_local", url, retries=0)),
    "lago": (lago_app, lambda url: LagoSink("lago_local", url, retries=0)),
}


@pytest.fixture
def month(store: DuckDBStore) -> DuckDBStore:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    events = [
        Event(
            model="gpt-4o",
            customer_id=f"cus_{i % 3}",
            started_at=at + timedelta(hours=i),
            output_tokens=0 if i % 4 == 0 else 100 + i,
            cost_usd=Decimal("0.01"),
        )
        for i in range(24)
    ]
    events.append(Event(model="gpt-4o", started_at=at, output_tokens=5))  # no customer: not metered
    store.append_events(events)
    return store


def _expected(store: DuckDBStore) -> dict[str, int]:
    """Per record id, the value the ledger holds (output tokens of events with any, and 1 call each)."""
    rows = store.query(
        "SELECT event_uuid, output_tokens FROM events "
        "WHERE customer_id IS NOT NULL AND started_at >= '2026-11-01'"
    )
    out = {f"ct-{r['event_uuid'].hex}-output_tokens": r["output_tokens"] for r in rows if r["output_tokens"]}
    out.update({f"ct-{r['event_uuid'].hex}-calls": 1 for r in rows})
    return out


@pytest.fixture(params=sorted(TARGETS))
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, Ledger, Any]]:
    make_app, make_sink = TARGETS[request.param]
    ledger = Ledger()
    with BackgroundServer(make_app(ledger)) as server:
        yield request.param, ledger, make_sink(server.url)


def _accepted_values(name: str, ledger: Ledger) -> dict[str, int]:
    out = {}
    for key, record in ledger.accepted.items():
        if name == "stripe":
            out[key] = int(record["payload[value]"])
        elif name == "openmeter":
            out[key.removeprefix("costtrail/")] = int(record["data"]["value"])
        else:
            out[key] = int(record["properties"]["value"])
    return out


def test_export_rerun_and_resume(month: DuckDBStore, target: tuple[str, Ledger, Any], tmp_path: Path) -> None:
    name, server, sink = target
    expected = _expected(month)
    log = SentLog(tmp_path / "sent")
    server.fail_from = 3  # the third request and every one after it fail
    with pytest.raises(Exception):  # noqa: B017 - each client raises its own error type
        export_records(meter_records(month, NOV, METERS), sink, log, batch=5)
    assert 0 < len(server.accepted) < len(expected) and not server.invalid
    server.fail_from = None
    resumed = export_records(meter_records(month, NOV, METERS), sink, SentLog(tmp_path / "sent"), batch=5)
    assert resumed.already_sent == len(server.accepted) - resumed.sent
    assert _accepted_values(name, server) == expected  # every record, the ledger's values
    assert server.resent == 0 and not server.invalid
    before = server.requests
    again = export_records(meter_records(month, NOV, METERS), sink, SentLog(tmp_path / "sent"), batch=5)
    assert (again.sent, again.already_sent, server.requests) == (0, len(expected), before)


def test_cli_dry_run_writes_records_and_sends_nothing(month: DuckDBStore, tmp_path: Path) -> None:
    ledger = tmp_path / "l.duckdb"
    with DuckDBStore(ledger) as store:
        store.append_events([Event(event_id="e1", model="m", customer_id="cus_1", output_tokens=7,
                                   started_at=datetime(2026, 11, 5, tzinfo=UTC))])  # fmt: skip
    out = tmp_path / "records.jsonl"
    args = ["meters", "export", "stripe", "--period", "2026-11", "--meter", "output_tokens=tok"]
    result = CliRunner().invoke(
        app, [*args, "--dry-run", str(out), "--ledger", str(ledger), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["sent"] == 1
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (record["event_name"], record["customer_id"], record["value"], record["event_id"]) == (
        "tok",
        "cus_1",
        "7",
        "e1",
    )
    assert not (tmp_path / "l.duckdb.meters-stripe.sent").exists()


def test_unknown_metric_names_the_choices() -> None:
    result = CliRunner().invoke(app, ["meters", "export", "lago", "--period", "2026-11", "--meter", "tokens"])
    assert result.exit_code == 2 and "unknown metric 'tokens'" in result.output
