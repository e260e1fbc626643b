"""How many queries each page makes, and that pages ask independent questions concurrently."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.web.dashboard_harness import Served

from costtrail.finance.targets import UnitTargets
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings
from costtrail.web.filters import Filters
from costtrail.web.pages import PAGES, PageContext
from costtrail.web.pages.context import latest_event
from costtrail.web.querying import WORKERS, CountingStore, concurrent_reads, together
from costtrail.web.sessions import Viewer

# page -> (path params, queries its build makes on the test ledger, measured). A report call is two
# or three queries (the rollup, a quantile pass, its unpriced line; distinct runs from the run
# index are one more, which replaces grouping every event by run); cost per outcome is four for
# all outcomes together (finance.costs_per_outcome). The ceilings catch a page that starts asking
# the same thing twice or grows a query per row.
BUDGET: dict[str, tuple[dict[str, str], int]] = {
    "overview": ({}, 20),
    "workflows": ({}, 4),
    "workflow": ({"workflow": "support_reply"}, 19),
    "runs": ({}, 7),
    "run": ({"run_id": "run-0001"}, 6),
    "customers": ({}, 12),
    "models": ({}, 7),
    "finance": ({}, 5),
    "alerts": ({}, 3),
}


def _ctx(store: Any, targets: UnitTargets | None = None, **path: str) -> PageContext:
    filters = Filters.from_query({}, latest=latest_event(store, None))
    viewer = Viewer("test", None, "analyst")
    return PageContext(store, Settings(), filters, viewer, path, None, {}, targets)


@pytest.mark.parametrize("name", list(BUDGET))
def test_each_page_makes_a_bounded_number_of_queries(web_store: DuckDBStore, name: str) -> None:
    spec = next(p for p in PAGES if p.name == name)
    params, ceiling = BUDGET[name]
    counted = CountingStore(web_store)
    page = spec.build(_ctx(counted, **params))
    assert page is not None and page.sections
    assert 1 <= counted.queries <= ceiling, f"{name}: {counted.queries} queries (ceiling {ceiling})"


def test_a_target_adds_its_outcome_and_nothing_else(web_store: DuckDBStore) -> None:
    spec = next(p for p in PAGES if p.name == "customers")
    plain, targeted = CountingStore(web_store), CountingStore(web_store)
    spec.build(_ctx(plain))
    targets = UnitTargets.from_yaml('units: {never_recorded: {target_usd: "1.00"}}')
    page = spec.build(_ctx(targeted, targets))
    outcomes = page.tables()["outcomes"].rows if page else []
    assert [r["outcome"] for r in outcomes][-1] == "never_recorded"
    # finance.costs_per_outcome prices every outcome in the same four queries
    assert targeted.queries == plain.queries


def test_together_runs_reads_at_once_on_duckdb_and_keeps_order(web_store: DuckDBStore) -> None:
    assert concurrent_reads(web_store) and concurrent_reads(CountingStore(web_store))
    inside = 0
    most = 0
    lock = threading.Lock()

    def work(i: int, meet: threading.Barrier | None = None) -> Any:
        def run() -> int:
            nonlocal inside, most
            with lock:
                inside += 1
                most = max(most, inside)
            if meet is not None:
                meet.wait()  # passes only once every call is running at the same time
            rows = web_store.query(f"SELECT {i} AS i, count(*) AS n FROM events")
            with lock:
                inside -= 1
            return int(rows[0]["i"])

        return run

    meet = threading.Barrier(WORKERS, timeout=60)  # reused: each pair of calls meets in turn
    assert together(web_store, *(work(i, meet) for i in range(2 * WORKERS))) == list(range(2 * WORKERS))
    assert most == WORKERS
    most = 0
    assert together(object(), *(work(i) for i in range(3))) == [0, 1, 2]  # unknown store: in turn
    assert together(CountingStore(web_store, parallel=False), *(work(i) for i in range(3))) == [0, 1, 2]
    assert most == 1


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, follow_redirects=False) as c:
        assert c.post("/login", data={"key": served.keys.read, "next": "/"}).status_code == 303
        yield c


def _queries(timing: str) -> int:
    return int(timing.split("db;dur=")[1].split('desc="')[1].split(" queries")[0])


def test_server_timing_counts_queries_and_filter_lists_are_cached(client: httpx.Client) -> None:
    # an unusual filter so this test builds the pages itself (a miss), whatever ran before it
    cold = client.get("/models?range=90d&environment=production")
    assert cold.status_code == 200 and 'cache;desc="miss"' in cold.headers["server-timing"]
    built = _queries(cold.headers["server-timing"])
    warm = client.get("/models?range=90d&environment=production")
    assert 'cache;desc="hit"' in warm.headers["server-timing"]
    # a page from the cache asks only for the newest event's time: the filter lists, the
    # navigation and the page itself are kept while the ledger is unchanged
    assert _queries(warm.headers["server-timing"]) == 1 < built
    other = client.get("/workflows?range=90d&environment=production")
    assert 'cache;desc="miss"' in other.headers["server-timing"]
    assert _queries(other.headers["server-timing"]) >= 2
    assert ">staging</option>" in other.text  # the environment list still offers every value


def test_counting_store_passes_everything_else_through(web_store: DuckDBStore) -> None:
    counted = CountingStore(web_store)
    assert counted.dialect is web_store.dialect and counted.url == web_store.url
    assert counted.query_arrow("SELECT 1 AS one").num_rows == 1
    assert counted.queries == 1 and counted.seconds > 0


@pytest.mark.parametrize(
    "filters", [{}, {"workflow": "doc_extraction"}, {"tenant_id": "acme"}, {"workflow": "no-such-workflow"}]
)
def test_costliest_runs_are_top_runs(web_store: DuckDBStore, filters: dict[str, str]) -> None:
    from costtrail.reports import top_runs
    from costtrail.web.pages.runs import costliest_runs

    window = Filters.from_query({}, latest=latest_event(web_store, None))
    scope = {"filters": filters, "since": window.since, "until": window.until}
    two_step = costliest_runs(web_store, 20, **scope)
    expected = top_runs(web_store, 20, **scope)
    assert list(two_step) == list(expected)
    assert two_step.unpriced == expected.unpriced and two_step.metrics == expected.metrics
    assert len(expected) == (0 if filters.get("workflow") == "no-such-workflow" else 20)
