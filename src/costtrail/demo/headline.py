"""The headline report printed after the demo: four small rollups over the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.reports import ReportResult, report


def headline(store: LedgerStore, top_customers: int = 5) -> dict[str, Any]:
    """Cost by workflow (with cost per successful completion), top customers, model mix, totals.

    Returns ``{"totals", "workflows", "customers", "models", "unpriced"}``; each
    list is a :class:`ReportResult` (rows of dicts).
    """
    totals = report(
        store,
        by=[],
        metrics=["total_cost", "runs", "events", "model_calls", "customers", "first_seen", "last_seen"],
    )[0]
    workflows = report(
        store,
        by=["workflow"],
        metrics=["runs", "total_cost", "avg_cost_per_run", "success_rate", "cost_per_successful_run"],
    )
    customers = report(
        store,
        by=["customer_id", "tenant_id", "plan_tier"],
        metrics=["total_cost", "runs", "cost_per_successful_run"],
        filters={"environment": "prod"},
        limit=top_customers,
    )
    models = report(
        store,
        by=["provider", "model"],
        metrics=["model_calls", "total_cost", "total_cache_read_tokens", "unpriced_events"],
        filters={"kind": ["llm", "embedding"]},
    )
    return {
        "totals": totals,
        "workflows": workflows,
        "customers": customers,
        "models": _with_share(models, totals.get("total_cost") or Decimal(0)),
        "unpriced": workflows.unpriced,
    }


def _with_share(models: ReportResult, total: Decimal) -> ReportResult:
    for row in models:
        cost = row["total_cost"]
        row["cost_share"] = float(cost / total) if total and cost is not None else None
    models.metrics.append("cost_share")
    models.units["cost_share"] = "ratio"
    return models
