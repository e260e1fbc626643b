"""Dashboard fixtures: a demo-like ledger, a real server on 127.0.0.1, headless Chromium.

Chromium is Debian's package (``.ci/system-deps`` installs it in CI), driven by
Playwright's Python package through ``executable_path``; Playwright's own browser
download is never used. Locally the browser tests skip when /usr/bin/chromium is
absent; under CI they fail instead, so a missing install step cannot hide.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.web.dashboard_harness import CHROMIUM, CHROMIUM_ARGS, Browser, Keys, Served
from tests.web.web_ledger import END, fill

from costtrail.auth import KeyRing, Scope
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.demo.controls_demo import add_controls_demo
from costtrail.demo.finance_demo import add_finance_demo
from costtrail.finance.period import Period
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings

FINANCE_PERIOD = Period.parse(f"{(END - timedelta(days=29)).date()}..{END.date()}")


@pytest.fixture(scope="session")
def web_controls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the controls demo writes its budgets (the file `costtrail serve --controls` reads)."""
    return tmp_path_factory.mktemp("controls") / "controls.yaml"


@pytest.fixture(scope="session")
def web_store(tmp_path_factory: pytest.TempPathFactory, web_controls: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path_factory.mktemp("ledger") / "web.duckdb")
    fill(store)
    # bills with discrepancies, shared invoices allocated by the demo rules, revenue per customer
    add_finance_demo(store, FINANCE_PERIOD)
    # budgets (a controls file), alerts in the ledger: retry loop, tenant anomaly, budget trips
    add_controls_demo(store, now=END, controls_path=web_controls)
    yield store
    store.close()


@pytest.fixture(scope="session")
def web_targets(tmp_path_factory: pytest.TempPathFactory, web_store: DuckDBStore) -> Path:
    """A targets file (`costtrail serve --targets`): 'completed' costs more than its target (set at
    80% of what it costs over the default 30 days); 'abandoned' has a target but no successes."""
    from costtrail.finance.unit_economics import cost_per_outcome
    from costtrail.web.filters import Filters
    from costtrail.web.pages.context import PageContext, latest_event, period_of

    window = Filters.from_query({}, latest=latest_event(web_store, None))
    period = period_of(PageContext(web_store, Settings(), window, None, {}))  # type: ignore[arg-type]
    actual = cost_per_outcome(web_store, "completed", period).cost_per_outcome
    assert actual is not None
    target = (actual * Decimal("0.8")).quantize(Decimal("0.0001"))
    path = tmp_path_factory.mktemp("targets") / "units.yaml"
    path.write_text(
        f'units:\n  completed:\n    target_usd: "{target}"\n'
        '  abandoned:\n    target_usd: "0.05"\n    drift_factor: 2\n'
    )
    return path


@pytest.fixture(scope="session")
def web_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyRing, Keys]:
    ring = KeyRing(tmp_path_factory.mktemp("keys") / "keys.json", secret=b"dashboard-tests-secret-0123456789")
    keys = Keys(
        read=ring.create(Scope.READ, label="analyst").token,
        tenant_acme=ring.create(Scope.READ, tenant="acme", label="acme reader").token,
        ingest=ring.create(Scope.INGEST, label="shipper").token,
    )
    return ring, keys


@pytest.fixture(scope="session")
def served(
    web_store: DuckDBStore, web_keys: tuple[KeyRing, Keys], web_controls: Path, web_targets: Path
) -> Iterator[Served]:
    ring, keys = web_keys
    # the collector's own app factory: the dashboard is served by `costtrail serve` (--targets FILE)
    settings = Settings(ledger=web_store.url, targets=web_targets)
    app = create_app(settings, web_store, keys=ring, controls_file=web_controls)  # as --controls FILE
    with BackgroundServer(app) as server:
        yield Served(server.url, web_store, keys, ring)


# Module scope: Playwright's sync API runs its own event loop while the browser is open; closing
# it with each test module keeps it from overlapping anyone's asyncio tests.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (/usr/bin/chromium): run .ci/system-deps as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="costtrail-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 900},
                accept_downloads=True,
            )
            browser = Browser(context)
            context.on("request", lambda request: browser.requests.append(request.url))
            yield browser
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium: Browser) -> Iterator[Any]:
    chromium.context.clear_cookies()
    tab = chromium.context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    tab.close()
