"""Workflows: what each costs, how often it succeeds, and one workflow's anatomy."""

from __future__ import annotations

from typing import Any

from costtrail.reports import VIEWS, report
from costtrail.reports.views import WORKFLOW_METRICS
from costtrail.web import charts
from costtrail.web.blocks import Page, Row, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, segment, unpriced_notice, window
from costtrail.web.pages.runs import costliest_runs
from costtrail.web.querying import together

TOP_RUNS = 20
SUMMARY = (
    "total_cost",
    "runs",
    "success_rate",
    "cost_per_successful_run",
    "p95_latency_ms",
    "unpriced_events",
)
STEP_METRICS = ("total_cost", "events", "avg_cost_per_run", "retry_rate", "failure_rate", "p95_latency_ms")


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
            TableColumn("workflow", "workflow", link=drill),
            TableColumn("total_cost", "total cost", "money"),
            TableColumn("runs", "runs", "int"),
            TableColumn("success_rate", "success rate", "pct"),
            TableColumn("cost_per_successful_run", "cost per successful completion", "money"),
            TableColumn("avg_cost_per_run", "avg cost per run", "money"),
            TableColumn("p95_latency_ms", "p95 latency", "ms"),
            TableColumn("retry_rate", "retry rate", "pct"),
            TableColumn("failed_run_cost", "cost of failed runs", "money"),
            TableColumn("unpriced_events", "unpriced", "int"),
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
    store = ctx.store

    def drawn(by: tuple[str, ...], metrics: tuple[str, ...], order: tuple[str, ...] | None = None) -> Any:
        return lambda: report(store, by=by, metrics=metrics, order_by=order, **scope)

    # independent questions, asked at once; each asks only for what its chart or table draws
    summary, steps, agents, models, inputs, payloads, runs = together(
        store,
        drawn(("workflow",), SUMMARY),
        drawn(("workflow", "step"), STEP_METRICS),
        drawn(("agent",), ("total_cost",)),
        drawn(("provider", "model"), ("total_cost",)),
        drawn(("input_band",), ("events",), ("input_band",)),
        drawn(("payload_band",), ("total_cost",), ("payload_band",)),
        lambda: costliest_runs(store, TOP_RUNS, **scope),
    )
    if not summary:
        return None
    head = summary[0]
    from costtrail.web.blocks import Headline

    def run_link(row: Row) -> str:
        return ctx.link(f"/runs/{segment(row['run_id'])}")

    return Page(
        f"Workflow: {name}",
        [
            Section(
                "",
                [
                    *unpriced_notice(summary.unpriced),
                    Headline("total_cost", "Total cost", head["total_cost"]),
                    Headline("runs", "Runs", head["runs"], "int"),
                    Headline("success_rate", "Success rate", head["success_rate"], "pct"),
                    Headline(
                        "cost_per_successful_run",
                        "Cost per successful completion",
                        head["cost_per_successful_run"],
                    ),
                    Headline("p95_latency_ms", "p95 latency", head["p95_latency_ms"], "ms"),
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
                            TableColumn("step", "step"),
                            TableColumn("total_cost", "total cost", "money"),
                            TableColumn("events", "events", "int"),
                            TableColumn("avg_cost_per_run", "avg per run", "money"),
                            TableColumn("retry_rate", "retry rate", "pct"),
                            TableColumn("failure_rate", "failure rate", "pct"),
                            TableColumn("p95_latency_ms", "p95 latency", "ms"),
                        ],
                        steps,
                    ),
                    Table(
                        "top-runs",
                        "Most expensive runs",
                        [
                            TableColumn("run_id", "run", link=run_link),
                            TableColumn("customer_id", "customer"),
                            TableColumn("started_at", "started"),
                            TableColumn("succeeded", "succeeded"),
                            TableColumn("total_cost", "cost", "money"),
                            TableColumn("events", "events", "int"),
                            TableColumn("retries", "retries", "int"),
                        ],
                        runs,
                    ),
                ],
            ),
        ],
        crumbs=[("Workflows", ctx.link("/workflows"))],
    )
