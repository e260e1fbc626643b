"""The dashboard's pages: each a function from the reader's filters to a :class:`Page`.

Builders call the core report functions (which aggregate in the database and
return only what is drawn); they shape rows into cards, charts and tables and
never compute a number the report API already gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from costtrail.web import paths
from costtrail.web.blocks import Page
from costtrail.web.pages.billing import billing_line_page, billing_page
from costtrail.web.pages.context import PageContext, always
from costtrail.web.pages.controls_data import alerts_page
from costtrail.web.pages.customers import customers_page
from costtrail.web.pages.finance import finance_page, has_cost_lines
from costtrail.web.pages.models import models_page, whatif_page
from costtrail.web.pages.overview import overview_page
from costtrail.web.pages.runs import run_page, runs_page
from costtrail.web.pages.workflows import workflow_page, workflows_page

if TYPE_CHECKING:
    from costtrail.ledger.store import LedgerStore

__all__ = [
    "PAGES",
    "Page",
    "PageContext",
    "PageSpec",
    "alerts_page",
    "always",
    "billing_line_page",
    "billing_page",
    "customers_page",
    "finance_page",
    "has_cost_lines",
    "models_page",
    "overview_page",
    "run_page",
    "runs_page",
    "whatif_page",
    "workflow_page",
    "workflows_page",
]


@dataclass(frozen=True)
class PageSpec:
    """One page: its URL, its title in the navigation, its builder, and when it appears."""

    name: str
    path: str
    title: str
    build: Callable[[PageContext], Page | None]
    nav: bool = True
    available: Callable[[LedgerStore], bool] = field(default=always)
    cached: bool = True
    for_tenant_keys: bool = True


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "/", "Overview", overview_page),
    PageSpec("workflows", "/workflows", "Workflows", workflows_page),
    PageSpec("workflow", f"/workflows/{paths.text_param('workflow')}", "Workflow", workflow_page, nav=False),
    PageSpec("runs", "/runs", "Runs", runs_page),
    PageSpec("run", f"/runs/{paths.text_param('run_id')}", "Run", run_page, nav=False),
    PageSpec("customers", "/customers", "Features & customers", customers_page),
    PageSpec("models", "/models", "Models & providers", models_page),
    PageSpec("whatif", "/models/whatif", "What if", whatif_page, nav=False),
    PageSpec("finance", "/finance", "Finance", finance_page, available=has_cost_lines, for_tenant_keys=False),
    PageSpec("billing", "/billing", "Billing", billing_page, for_tenant_keys=False),
    PageSpec(
        "billing_line",
        f"/billing/lines/{paths.text_param('line_id')}",
        "Invoice line",
        billing_line_page,
        nav=False,
        for_tenant_keys=False,
    ),
    PageSpec("alerts", "/alerts", "Alerts & budgets", alerts_page, cached=False),
)
