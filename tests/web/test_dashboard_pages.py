"""Every page in headless Chromium on a demo-like ledger: charts drawn, numbers equal the report API's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from tests.web.dashboard_harness import (
    Browser,
    Served,
    cell_values,
    login,
    metric_value,
    screenshot,
    wait_for_charts,
)

from costtrail.reports import report, top_runs, view_report
from costtrail.web.filters import Filters
from costtrail.web.pages.context import latest_event

pytestmark = pytest.mark.browser

# page path -> {chart id: traces expected}
PAGES = {
    "overview": ("/", {"daily-by-workflow": 3, "cost-per-success": 1}),
    "workflows": ("/workflows", {"workflow-cost": 1, "workflow-unit-cost": 2}),
    "workflow": (
        "/workflows/support_reply",
        {"step-cost": 1, "agent-cost": 1, "model-cost": 1, "input-bands": 1, "payload-bands": 1},
    ),
    "runs": ("/runs", {"top-runs": 1}),
    "customers": ("/customers", {"feature-cost": 1, "customer-cost": 1}),
    "models": ("/models", {"model-mix": 6, "cost-per-mtok": 1, "cached-share": 1}),
    "finance": ("/finance", {"variance-by-day": None}),
    "alerts": ("/alerts", {"budget-gauges": None}),
}


def _window(served: Served, **query: str) -> Filters:
    return Filters.from_query(query, latest=latest_event(served.store, None))


def _api_report(served: Served, by: str, filters: Filters) -> dict[str, Decimal]:
    """The collector's read API (GET /v1/report, what the CLI reads): cost per ``by`` group."""
    params = {"view": by}
    if filters.since is not None:
        params["since"] = filters.since.isoformat()
    if filters.until is not None:
        params["until"] = filters.until.isoformat()
    response = httpx.get(
        f"{served.base}/v1/report", params=params, headers={"Authorization": f"Bearer {served.keys.read}"}
    )
    response.raise_for_status()
    return {r[by]: Decimal(r["total_cost"]) for r in response.json()["rows"]}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_charts_and_saves_screenshot(page, served: Served, name: str) -> None:
    path, expected = PAGES[name]
    login(page, served, served.keys.read, path)
    assert urlsplit(page.url).path == path
    charts = wait_for_charts(page)
    for chart_id, traces in expected.items():
        assert chart_id in charts, f"{chart_id} missing on {path}: {sorted(charts)}"
        drawn = charts[chart_id]
        assert drawn["svg"] >= 1, f"{chart_id}: no Plotly SVG"
        traces = traces or drawn["expected"]  # None: as many as the server sent, at least one
        assert traces >= 1
        assert drawn["expected"] == drawn["data"] == traces, (chart_id, drawn)
        assert drawn["drawn"] == traces, (chart_id, drawn)
    screenshot(page, name)


def test_overview_numbers_equal_report_api(page, served: Served) -> None:
    login(page, served, served.keys.read, "/")
    window = _window(served)
    head = report(served.store, by=[], metrics=["total_cost", "runs", "cost_per_successful_run"],
                  since=window.since, until=window.until)[0]  # fmt: skip
    assert Decimal(metric_value(page, "total_cost")) == head["total_cost"]
    assert int(metric_value(page, "runs")) == head["runs"]
    assert Decimal(metric_value(page, "cost_per_successful_run")) == head["cost_per_successful_run"]
    api = _api_report(served, "workflow", window)
    assert sum(api.values()) == head["total_cost"]
    text = page.inner_text("#metric-total_cost .value")
    assert text == f"${head['total_cost'].quantize(Decimal('0.01')):,}"


def test_workflows_table_equals_report_api_and_csv(page, served: Served) -> None:
    login(page, served, served.keys.read, "/workflows")
    window = _window(served)
    names = cell_values(page, "workflows", "workflow")
    costs = [Decimal(v) for v in cell_values(page, "workflows", "total_cost")]
    expected = view_report(served.store, "workflow", since=window.since, until=window.until)
    assert names == [r["workflow"] for r in expected]
    assert costs == [r["total_cost"] for r in expected]
    assert dict(zip(names, costs, strict=True)) == _api_report(served, "workflow", window)
    per_success = cell_values(page, "workflows", "cost_per_successful_run")
    assert [Decimal(v) for v in per_success] == [r["cost_per_successful_run"] for r in expected]
    with page.expect_download() as download:
        page.click("#table-workflows a.csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].split(",")[:2] == ["workflow", "total_cost"]
    assert [line.split(",")[1] for line in lines[1:]] == cell_values(page, "workflows", "total_cost")


def test_filters_change_numbers_and_stay_in_url(page, served: Served) -> None:
    login(page, served, served.keys.read, "/")
    everything = Decimal(metric_value(page, "total_cost"))
    page.select_option("select[data-filter=workflow]", "doc_extraction")
    page.wait_for_url("**/?workflow=doc_extraction")
    only = Decimal(metric_value(page, "total_cost"))
    window = _window(served, workflow="doc_extraction")
    expected = report(served.store, by=[], metrics=["total_cost"], filters=window.where(),
                      since=window.since, until=window.until)[0]["total_cost"]  # fmt: skip
    assert only == expected < everything
    page.select_option("select[data-filter=range]", "7d")
    page.wait_for_url("**/?range=7d&workflow=doc_extraction")
    week = Decimal(metric_value(page, "total_cost"))
    window = _window(served, workflow="doc_extraction", range="7d")
    assert week == report(served.store, by=[], metrics=["total_cost"], filters=window.where(),
                          since=window.since, until=window.until)[0]["total_cost"]  # fmt: skip
    assert week < only
    # the filters follow the reader to other pages
    page.click("a[data-nav=workflows]")
    assert "workflow=doc_extraction" in page.url and "range=7d" in page.url
    assert cell_values(page, "workflows", "workflow") == ["doc_extraction"]


def test_drill_down_from_workflow_to_run(page, served: Served) -> None:
    login(page, served, served.keys.read, "/workflows")
    page.click("#table-workflows td[data-col=workflow] a >> text=doc_extraction")
    page.wait_for_url("**/workflows/doc_extraction")
    window = _window(served)
    expected = top_runs(served.store, 20, filters={"workflow": "doc_extraction"}, since=window.since,
                        until=window.until)  # fmt: skip
    assert cell_values(page, "top-runs", "run_id") == [r["run_id"] for r in expected]
    first = expected[0]
    page.click(f"#table-top-runs td[data-col=run_id] a >> text={first['run_id']}")
    page.wait_for_url(f"**/runs/{first['run_id']}")
    charts = wait_for_charts(page)
    assert charts["waterfall"]["drawn"] == 1
    assert charts["timeline"]["drawn"] >= 1
    assert Decimal(metric_value(page, "total_cost")) == first["total_cost"]
    running = cell_values(page, "steps", "cumulative_cost")
    assert Decimal(running[-1]) == first["total_cost"]
    screenshot(page, "run")


def test_no_request_leaves_the_collector(chromium: Browser, page, served: Served) -> None:
    chromium.requests.clear()
    login(page, served, served.keys.read, "/")
    for path, _ in PAGES.values():
        page.goto(served.base + path)
        wait_for_charts(page)
    page.goto(served.base + "/runs/run-0001")
    wait_for_charts(page)
    assert len(chromium.requests) > len(PAGES)
    foreign = [
        u for u in chromium.requests if urlsplit(u).scheme != "data" and urlsplit(u).netloc != served.host
    ]
    assert foreign == []


def test_tenant_key_sees_only_its_tenant(page, served: Served) -> None:
    login(page, served, served.keys.tenant_acme, "/customers")
    acme = {c for c in ("cust-01", "cust-02", "cust-03", "cust-04")}
    shown = set(cell_values(page, "customers", "customer_id"))
    assert shown and shown <= acme
    assert page.is_disabled("select[data-filter=tenant]")
    assert page.locator("a[data-nav=finance]").count() == 0  # bills are not tenant-scoped
    assert page.goto(f"{served.base}/finance").status == 404
    # asking for another tenant in the URL changes nothing: the key's tenant is forced
    page.goto(f"{served.base}/?tenant=globex")
    window = Filters.from_query({}, latest=latest_event(served.store, "acme"), tenant="acme")
    acme_total = report(served.store, by=[], metrics=["total_cost"], filters={"tenant_id": "acme"},
                        since=window.since, until=window.until)[0]["total_cost"]  # fmt: skip
    assert Decimal(metric_value(page, "total_cost")) == acme_total
    options = page.eval_on_selector_all("select[data-filter=customer] option", "o => o.map(x => x.value)")
    assert set(options) - {""} <= acme
    # another tenant's run is not found
    other = top_runs(served.store, 1, filters={"tenant_id": "globex"})[0]["run_id"]
    response = page.goto(f"{served.base}/runs/{other}")
    assert response is not None and response.status == 404
    assert other not in page.content()


def test_customers_margin_equals_finance_cost_to_serve(page, served: Served) -> None:
    from costtrail.finance.unit_economics import cost_to_serve
    from costtrail.web.pages.context import PageContext, period_of

    login(page, served, served.keys.read, "/customers")
    window = _window(served)
    ctx = PageContext(served.store, None, window, None, {})  # type: ignore[arg-type]
    serve = {r.key: r for r in cost_to_serve(served.store, period_of(ctx), by="customer")}
    customers = cell_values(page, "customers", "customer_id")
    margins = cell_values(page, "customers", "gross_margin")
    assert customers and len(customers) == len(margins)
    for customer, margin in zip(customers, margins, strict=True):
        assert Decimal(margin) == serve[customer].gross_margin


def test_finance_page_and_focus_download(page, served: Served) -> None:
    from costtrail.reconcile.engine import reconcile
    from costtrail.web.pages.context import PageContext, period_of

    login(page, served, served.keys.read, "/finance")
    window = _window(served)
    ctx = PageContext(served.store, None, window, None, {})  # type: ignore[arg-type]
    summary = reconcile(served.store, period_of(ctx)).summary()
    assert Decimal(metric_value(page, "billed")) == summary["billed"]
    assert Decimal(metric_value(page, "variance")) == summary["variance"]
    assert cell_values(page, "allocations", "rule_id")
    response = page.request.get(f"{served.base}/finance/focus.csv")
    assert response.status == 200
    header = response.text().splitlines()[0].split(",")
    assert "BilledCost" in header and "ChargePeriodStart" in header


def test_alerts_and_budgets_with_evidence_links(page, served: Served, web_controls: Path) -> None:
    from costtrail.controls.alerts import read_alerts
    from costtrail.controls.budgets import BudgetGate
    from costtrail.controls.config import ControlsConfig
    from costtrail.controls.spend import StoreSpend

    login(page, served, served.keys.read, "/alerts?range=all")
    charts = wait_for_charts(page)
    budgets = BudgetGate(ControlsConfig.load(web_controls).budgets, source=StoreSpend(served.store)).status()
    assert charts["budget-gauges"]["drawn"] == len(budgets) >= 1
    assert cell_values(page, "budgets", "budget") == [b.name for b in budgets]
    stored = read_alerts(served.store)
    assert len(cell_values(page, "alerts", "kind")) == len(stored) >= 3
    link = page.locator("#table-alerts td[data-col=title] a[href*='/workflows/support_reply']").first
    link.click()
    page.wait_for_url("**/workflows/support_reply?range=all")
    assert page.locator("h1").inner_text() == "Workflow: support_reply"


def test_tenant_key_sees_only_its_budgets_and_alerts(page, served: Served) -> None:
    login(page, served, served.keys.tenant_acme, "/alerts?range=all")
    assert set(cell_values(page, "budgets", "scope")) <= {"tenant_id=acme"}
    scopes = cell_values(page, "alerts", "scope")
    assert scopes and all("tenant_id=acme" in s for s in scopes)


def test_models_what_if_hint_reprices_with_optimize(page, served: Served) -> None:
    from costtrail.optimize.traffic import TrafficScope
    from costtrail.optimize.whatif import what_if

    login(page, served, served.keys.read, "/models")
    page.click("p.notice.info a")
    page.wait_for_url("**/models/whatif?*")
    query = dict(parse_qsl(urlsplit(page.url).query))
    window = _window(served)
    scope = TrafficScope(since=window.since, until=window.until, where={"model": query["hint_from"]})
    expected = what_if(served.store, scope, query["hint_to"], provider=query["hint_provider"]).rows()
    assert [Decimal(v) for v in cell_values(page, "whatif", "what_if")] == [r["what_if"] for r in expected]
    assert Decimal(cell_values(page, "whatif", "what_if")[0]) < Decimal(
        cell_values(page, "whatif", "current")[0]
    )
    csv = page.request.get(page.url.replace("?", "?download=whatif&", 1))
    assert csv.status == 200 and csv.text().startswith("metric,current,what_if")
