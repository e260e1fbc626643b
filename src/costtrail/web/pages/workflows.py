"""Workflows: what each costs, how often it succeeds, and one workflow's anatomy."""

from __future__ import annotations

from typing import Any

from costtrail.reports import VIEWS, report, top_runs, view_report
from costtrail.reports.views import WORKFLOW_METRICS
from costtrail.web import charts
from costtrail.web.blocks import Column, Page, Row, Section, Table
from costtrail.web.pages.context import PageContext, segment, unpriced_notice, window

TOP_RUNS = 20


def _workflow_rows(ctx: PageContext) -> tuple[list[dict[str, Any]], Any]:
    """The workflow view's metrics and the failed-spend view's, in one report (one pass over runs)."""
    metrics = [*VIEWS["workflow"].metrics, *(m for m in VIEWS["failed"].metrics if m not in WORKFLOW_METRICS)]
    rows = report(ctx.store, by=["workflow"], metrics=metrics, **window(ctx))
    return list(rows), rows.unpriced


def workflows_page(ctx: PageContext) -> Page:
    rows, unpriced = _workflow_rows(ctx)

    def drill(row: Row) -> str | None:
        return ctx.link(f"/workflows/{segment(row['workflow'])}") if row["workflow"] else None

    table = Table(
        "workflows",
        "Workflows",
        [
            Column("workflow", "workflow", link=drill),
            Column("total_cost", "total cost", "money"),
            Column("runs", "runs", "int"),
            Column("success_rate", "success rate", "pct"),
            Column("cost_per_successful_run", "cost per successful completion", "money"),
            Column("avg_cost_per_run", "avg cost per run", "money"),
            Column("p95_latency_ms", "p95 latency", "ms"),
            Column("retry_rate", "retry rate", "pct"),
            Column("failed_run_cost", "cost of failed runs", "money"),
            Column("unpriced_events", "unpriced", "int"),
        ],
        rows,
    )
    chart_cost = charts.hbars(
        "workflow-cost", "Total cost by workflow", rows, label="workflow", value="total_cost"
    )
    chart_unit = charts.grouped_bars(
        "workflow-unit-cost",
        "Cost per run and per successful completion",
        rows,
        x="workflow",
        ys={"avg cost per run": "avg_cost_per_run", "per successful completion": "cost_per_successful_run"},
    )
    return Page(
        "Workflows",
        [Section("", [*unpriced_notice(unpriced), chart_cost, chart_unit]), Section("", [table])],
    )


def workflow_page(ctx: PageContext) -> Page | None:
    name = ctx.path_params["workflow"]
    scope = window(ctx, workflow=name)
    summary = view_report(ctx.store, "workflow", **scope)
    if not summary:
        return None
    steps = view_report(ctx.store, "step", **scope)
    agents = view_report(ctx.store, "agent", **scope)
    models = view_report(ctx.store, "model", **scope)
    inputs = view_report(ctx.store, "input-band", **scope)
    payloads = view_report(ctx.store, "payload-band", **scope)
    runs = top_runs(ctx.store, TOP_RUNS, **scope)
    head = summary[0]
    from costtrail.web.blocks import Metric

    def run_link(row: Row) -> str:
        return ctx.link(f"/runs/{segment(row['run_id'])}")

    return Page(
        f"Workflow: {name}",
        [
            Section(
                "",
                [
                    *unpriced_notice(summary.unpriced),
                    Metric("total_cost", "Total cost", head["total_cost"]),
                    Metric("runs", "Runs", head["runs"], "int"),
                    Metric("success_rate", "Success rate", head["success_rate"], "pct"),
                    Metric(
                        "cost_per_successful_run",
                        "Cost per successful completion",
                        head["cost_per_successful_run"],
                    ),
                    Metric("p95_latency_ms", "p95 latency", head["p95_latency_ms"], "ms"),
                ],
            ),
            Section(
                "Where the money goes",
                [
                    charts.hbars("step-cost", "Cost by step", steps, label="step", value="total_cost"),
                    charts.hbars("agent-cost", "Cost by agent", agents, label="agent", value="total_cost"),
                    charts.hbars("model-cost", "Cost by model", models, label="model", value="total_cost"),
                    charts.grouped_bars(
                        "input-bands",
                        "Token distribution (model calls by input tokens)",
                        inputs,
                        x="input_band",
                        ys={"events": "events"},
                        money=False,
                    ),
                    charts.grouped_bars(
                        "payload-bands",
                        "Cost by payload band",
                        payloads,
                        x="payload_band",
                        ys={"total cost": "total_cost"},
                    ),
                ],
            ),
            Section(
                "",
                [
                    Table(
                        "steps",
                        "Steps",
                        [
                            Column("step", "step"),
                            Column("total_cost", "total cost", "money"),
                            Column("events", "events", "int"),
                            Column("avg_cost_per_run", "avg per run", "money"),
                            Column("retry_rate", "retry rate", "pct"),
                            Column("failure_rate", "failure rate", "pct"),
                            Column("p95_latency_ms", "p95 latency", "ms"),
                        ],
                        steps,
                    ),
                    Table(
                        "top-runs",
                        "Most expensive runs",
                        [
                            Column("run_id", "run", link=run_link),
                            Column("customer_id", "customer"),
                            Column("started_at", "started"),
                            Column("succeeded", "succeeded"),
                            Column("total_cost", "cost", "money"),
                            Column("events", "events", "int"),
                            Column("retries", "retries", "int"),
                        ],
                        runs,
                    ),
                ],
            ),
        ],
        crumbs=[("Workflows", ctx.link("/workflows"))],
    )
