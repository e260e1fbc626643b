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
