"""Reads survive rows stored before the bounds, and every query parameter gets a 4xx naming it.

Issue hardening-2, findings 4, 7 and 12 on the read side: ``latency_ms:
Infinity`` made ``/v1/report?view=workflow`` answer 500 (JSON has no
Infinity); ``input_tokens: 2**63 - 1`` made the dashboard's ``/models``
answer 500 (INT64 overflow adding two token columns); hostile ``where``,
``since`` and ``until`` values and the FOCUS download's ``range``/``since``
answered 500; a workflow named with ``/`` had no drill-down (404).

The rows are written straight into the ledger file (the collector now refuses
them), then ``costtrail serve`` reads it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pyarrow as pa
import pytest
from hardening_procs import CollectorProcess

from costtrail.auth import KeyRing, Scope
from costtrail.ledger.columnar import event_batch
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer
from costtrail.reports.metrics import METRICS
from costtrail.reports.views import VIEWS

SLASHED = "billing/refund flow"
RUN = "tickets/2026/run-1"


@dataclass
class Served:
    url: str
    token: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    @contextmanager
    def browser(self) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=60) as client:
            signed = client.post("/login", data={"key": self.token, "next": "/"})
            assert signed.status_code == 303, signed.text
            yield client


def _column(table: pa.Table, name: str, values: list[object]) -> pa.Table:
    at = table.schema.get_field_index(name)
    return table.set_column(at, table.schema.field(at), pa.array(values, table.schema.field(at).type))


def _unbounded_rows() -> pa.Table:
    """Four events with the values the collector accepted before its bounds."""
    now = time.time()
    records = [
        {
            "event_id": f"old-{i}",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "workflow": SLASHED,
            "run_id": RUN if i < 2 else f"run-{i}",
            "input_tokens": 10,
            "output_tokens": 5,
            "started_at": now - 3600 * i,
        }
        for i in range(4)
    ]
    table = Pricer().price_table(event_batch(records).table)
    table = _column(table, "input_tokens", [2**63 - 1] * 4)
    table = _column(table, "output_tokens", [2**63 - 1] * 4)
    return _column(table, "latency_ms", [math.inf, math.nan, 1e308, 1e308])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("reads")
    ledger = root / "ledger.duckdb"
    with DuckDBStore(ledger) as store:
        store.append_event_table(_unbounded_rows())
    token = KeyRing.for_ledger(str(ledger)).create(Scope.ADMIN, label="reads").token
    collector = CollectorProcess(ledger, root / "collector.log").start()
    try:
        yield Served(collector.url, token)
    finally:
        collector.stop()


def test_report_api_survives_rows_stored_before_the_bounds(served: Served) -> None:
    with served.api() as api:
        for view in VIEWS:
            answer = api.get("/v1/report", params={"view": view})
            assert answer.status_code == 200, (view, answer.text)
        every = api.get("/v1/report", params={"by": "model", "metrics": ",".join(METRICS)})
        assert every.status_code == 200, every.text
        row = every.json()["rows"][0]
        assert row["avg_latency_ms"] is None  # a mean over Infinity and NaN: no JSON number
        assert int(row["total_input_tokens"]) == 4 * (2**63 - 1)  # summed in 128 bits, exact
        run = api.get(f"/v1/runs/{quote(RUN, safe='')}")
        assert run.status_code == 200, run.text
        assert [s["latency_ms"] for s in run.json()["steps"]] == [None, None]


def test_dashboard_survives_rows_stored_before_the_bounds(served: Served) -> None:
    with served.browser() as browser:
        for path in ("/", "/models", "/workflows", "/runs", "/customers", "/finance"):
            assert browser.get(path).status_code == 200, path


def test_a_workflow_or_run_named_with_a_slash_has_its_drill_down(served: Served) -> None:
    with served.browser() as browser:
        listing = browser.get("/workflows")
        link = f"/workflows/{quote(SLASHED, safe='')}"
        assert link in listing.text.replace("&amp;", "&")
        page = browser.get(link)
        assert page.status_code == 200 and SLASHED in page.text
        run_link = f"/runs/{quote(RUN, safe='')}"
        assert browser.get(run_link).status_code == 200


HOSTILE_API = [
    ({"where": "attributes.a..b:x"}, "where"),
    ({"where": "day:notaday"}, "where"),
    ({"where": "nosuchdimension:x"}, "where"),
    ({"by": "workflow,nosuch"}, "by"),
    ({"metrics": "total_cost,nosuch"}, "metrics"),
    ({"view": "nosuch"}, "view"),
    ({"since": "not-a-time"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"limit": "0"}, "limit"),
    ({"limit": "x"}, "limit"),
]


@pytest.mark.parametrize(("params", "field"), HOSTILE_API, ids=[str(p) for p, _ in HOSTILE_API])
def test_hostile_report_parameters_get_a_4xx_naming_them(
    served: Served, params: dict[str, str], field: str
) -> None:
    with served.api() as api:
        answer = api.get("/v1/report", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize(
    "since", ["9999-12-31T23:59:59", "999999999h", "99999999999d", "0001-01-01T00:00:00+01:00"]
)
def test_times_past_the_ledger_range_read_as_its_edge(served: Served, since: str) -> None:
    with served.api() as api:
        answer = api.get("/v1/report", params={"since": since, "until": "9999-12-31T23:59:59-01:00"})
    assert answer.status_code == 200, answer.text


HOSTILE_PAGES = [
    ("/?until=9999-12-31", "until"),
    ("/models?since=0001-01-01", "since"),
    ("/?range=bogus", "range"),
    ("/finance/focus.csv?range=bogus", "range"),
    ("/finance/focus.csv?since=2026-13-01", "since"),
]


@pytest.mark.parametrize(("path", "name"), HOSTILE_PAGES)
def test_hostile_dashboard_parameters_get_a_400_naming_them(served: Served, path: str, name: str) -> None:
    with served.browser() as browser:
        answer = browser.get(path)
    assert answer.status_code == 400, answer.text
    assert f"{name}=" in answer.text
