"""The dashboard over plain HTTP: headers, assets from the installed plotly package, bad filters."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import httpx
import pytest
from tests.web.dashboard_harness import Served

from costtrail.web.filters import FilterError, Filters


@pytest.fixture
def client(served: Served):
    with httpx.Client(base_url=served.base, follow_redirects=False) as c:
        assert c.post("/login", data={"key": served.keys.read, "next": "/"}).status_code == 303
        yield c


def test_pages_forbid_other_hosts_and_caching(client: httpx.Client) -> None:
    response = client.get("/workflows")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "http" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


def test_plotly_is_the_installed_package_file(client: httpx.Client) -> None:
    page = client.get("/").text
    assert 'src="/assets/plotly.min.js?v=' in page and "cdn" not in page.lower()
    response = client.get("/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    bundled = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    # httpx undoes the gzip encoding: what arrives is the package's file, byte for byte
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == bundled
    assert client.get("/assets/../../etc/passwd").status_code == 404
    assert client.get("/assets/secrets.txt").status_code == 404


def test_bad_filters_get_a_clear_error(client: httpx.Client) -> None:
    response = client.get("/?since=yesterday")
    assert response.status_code == 400
    assert "since=&#39;yesterday&#39; is not a day: use YYYY-MM-DD" in response.text
    response = client.get("/?range=5y")
    assert (
        response.status_code == 400 and "range=&#39;5y&#39; is not one of 7d, 30d, 90d, all" in response.text
    )


def test_unknown_csv_table_and_unknown_run_are_404(client: httpx.Client) -> None:
    assert client.get("/workflows?download=nope").status_code == 404
    assert client.get("/runs/no-such-run").status_code == 404
    assert client.get("/workflows/no-such-workflow").status_code == 404


def test_filters_read_from_the_url() -> None:
    latest = datetime(2026, 11, 20, 18, tzinfo=UTC)
    f = Filters.from_query({"range": "7d", "customer": "c1"}, latest=latest)
    # "last 7 days" means what the CLI's --since 7d means: the latest day and the 7 whole days before
    assert (f.since, f.until) == (datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    assert f.where() == {"customer_id": "c1"}
    assert f.previous() is not None and f.previous().until == f.since
    assert f.query(workflow="w") == "?range=7d&customer=c1&workflow=w"
    custom = Filters.from_query({"since": "2026-11-01", "until": "2026-11-03"}, latest=latest)
    assert custom.until == datetime(2026, 11, 4, tzinfo=UTC) and custom.label == "2026-11-01 to 2026-11-03"
    locked = Filters.from_query({"tenant": "other"}, latest=latest, tenant="acme")
    assert locked.where() == {"tenant_id": "acme"} and "tenant" not in locked.params()
    with pytest.raises(FilterError, match="until is before since"):
        Filters.from_query({"since": "2026-11-03", "until": "2026-11-01"}, latest=latest)


def test_customers_margin_on_the_default_range_uses_overlapping_months(tmp_path) -> None:
    """Revenue imported per month shows on the default "last 30 days" range, which starts mid-month:
    each month's revenue counts for the share of its days inside the range."""
    import csv
    import io
    from decimal import Decimal

    from tests.web.web_ledger import fill

    from costtrail.auth import KeyRing, Scope
    from costtrail.collector import create_app
    from costtrail.collector.server import BackgroundServer
    from costtrail.finance.revenue import RevenueLine, store_revenue
    from costtrail.ledger.duckdb_store import DuckDBStore
    from costtrail.settings import Settings
    from costtrail.web.pages.context import latest_event

    with DuckDBStore(tmp_path / "months.duckdb") as store:
        fill(store, runs=60)
        sql = "SELECT min(customer_id) AS c FROM events WHERE customer_id IS NOT NULL"
        customer = store.query(sql)[0]["c"]
        store_revenue(
            store,
            [
                RevenueLine(customer_id=customer, period="2026-10", revenue=Decimal("310.00")),
                RevenueLine(customer_id=customer, period="2026-11", revenue=Decimal("300.00")),
            ],
        )
        window = Filters.from_query({}, latest=latest_event(store, None))
        assert window.since is not None and window.since.month == 10 and window.since.day > 1  # mid-month
        until = window.until or datetime.now(UTC)
        oct_days = (datetime(2026, 11, 1, tzinfo=UTC) - window.since).total_seconds() / 86400
        nov_days = (until - datetime(2026, 11, 1, tzinfo=UTC)).total_seconds() / 86400
        # $310 over 31 October days is $10/day, $300 over 30 November days is $10/day
        expected = Decimal(10) * (Decimal(str(oct_days)) + Decimal(str(nov_days)))

        ring = KeyRing(tmp_path / "keys.json", secret=b"dashboard-tests-secret-0123456789")
        key = ring.create(Scope.READ, label="finance").token
        app = create_app(Settings(ledger=store.url), store, keys=ring)
        with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
            assert client.post("/login", data={"key": key, "next": "/"}).status_code == 303
            page = client.get("/customers")
            assert page.status_code == 200
            assert "Import revenue" not in page.text
            table = client.get("/customers?download=customers")
            assert table.status_code == 200, table.text
    rows = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(table.text))}
    assert abs(Decimal(rows[customer]["revenue"]) - expected) < Decimal("0.000001") * 2
