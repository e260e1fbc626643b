"""Runs: the most expensive runs, and one run as a waterfall of its steps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.reports import (
    NOT_NULL,
    AmbiguousRunId,
    FilterValue,
    ReportError,
    ReportResult,
    failed_spend,
    report,
    resolve_run_id,
    run_costs,
    run_steps,
)
from costtrail.reports.filters import TimeBound
from costtrail.web import charts
from costtrail.web.blocks import Headline, Notice, Page, Row, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, segment, unpriced_notice, window
from costtrail.web.querying import together

TOP = 50


def costliest_runs(
    store: LedgerStore, limit: int, *, filters: Mapping[str, FilterValue], since: TimeBound, until: TimeBound
) -> ReportResult:
    """``top_runs(store, limit, ...)`` in two report calls: the ``limit`` costliest run ids (cost
    only, no run-success pass), then ``run_costs`` of those runs alone. Same rows; whether a run
    succeeded is worked out for ``limit`` runs instead of every run in the window."""
    costs = report(
        store,
        by=["run_id"],
        metrics=["total_cost"],
        filters={"run_id": NOT_NULL, **filters},
        since=since,
        until=until,
        limit=limit,
        order_by=["-total_cost"],
    )
    if not costs:  # no runs match: the plain call is as cheap, and gives the same empty report
        return run_costs(store, filters=filters, since=since, until=until, limit=limit)
    ids = [r["run_id"] for r in costs]
    detail = run_costs(store, filters={**filters, "run_id": ids}, since=since, until=until)
    # the unpriced line is the window's (as top_runs gives it), not only these runs'
    return ReportResult(
        detail, by=detail.by, metrics=detail.metrics, unpriced=costs.unpriced, units=detail.units
    )


def runs_page(ctx: PageContext) -> Page:
    scope = window(ctx)
    runs, failed = together(
        ctx.store,
        lambda: costliest_runs(ctx.store, TOP, **scope),
        lambda: failed_spend(ctx.store, **scope),
    )

    def run_link(row: Row) -> str:
        return ctx.link(f"/runs/{segment(row['run_id'])}")

    def workflow_link(row: Row) -> str | None:
        return ctx.link(f"/workflows/{segment(row['workflow'])}") if row["workflow"] else None

    chart = charts.hbars(
        "top-runs", "The 15 most expensive runs", list(runs[:15]), label="run_id", value="total_cost"
    )
    return Page(
        "Runs",
        [
            Section("", [*unpriced_notice(runs.unpriced), chart]),
            Section(
                "",
                [
                    Table(
                        "runs",
                        f"Most expensive runs (top {TOP})",
                        [
                            TableColumn("run_id", "run", link=run_link),
                            TableColumn("workflow", "workflow", link=workflow_link),
                            TableColumn("customer_id", "customer"),
                            TableColumn("started_at", "started"),
                            TableColumn("succeeded", "succeeded"),
                            TableColumn("total_cost", "cost", "money"),
                            TableColumn("events", "events", "int"),
                            TableColumn("retries", "retries", "int"),
                            TableColumn("unpriced_events", "unpriced", "int"),
                        ],
                        runs,
                    ),
                    Table(
                        "failed",
                        "Spend that produced no successful result",
                        [
                            TableColumn("workflow", "workflow", link=workflow_link),
                            TableColumn("runs", "runs", "int"),
                            TableColumn("failed_runs", "failed runs", "int"),
                            TableColumn("failed_run_cost", "cost of failed runs", "money"),
                            TableColumn("failed_cost_share", "share of cost", "pct"),
                        ],
                        failed,
                    ),
                ],
            ),
        ],
    )


def _belongs(ctx: PageContext, run_id: str) -> bool:
    """A tenant reader sees a run only when every one of its events is in the tenant."""
    tenant = ctx.viewer.tenant_id
    if tenant is None:
        return True
    mine, everyone = together(
        ctx.store,
        lambda: run_costs(ctx.store, filters={"run_id": run_id, "tenant_id": tenant}),
        lambda: run_costs(ctx.store, filters={"run_id": run_id}),
    )
    return bool(mine) and mine[0]["events"] == everyone[0]["events"]


def _candidates_page(ctx: PageContext, ambiguous: AmbiguousRunId) -> Page:
    """A run id prefix shared by several runs: the runs it could mean, each a link."""

    def run_link(row: Row) -> str:
        return ctx.link(f"/runs/{segment(row['run_id'])}")

    rows = [{"run_id": c} for c in ambiguous.candidates]
    return Page(
        f"Runs starting with {ambiguous.prefix}",
        [
            Section(
                "",
                [
                    Notice(
                        "info",
                        f"'{ambiguous.prefix}' starts more than one run id: pick one, or type more of it",
                    ),
                    Table(
                        "candidates",
                        "Runs it could mean",
                        [TableColumn("run_id", "run", link=run_link)],
                        rows,
                    ),
                ],
            )
        ],
        crumbs=[("Runs", ctx.link("/runs"))],
    )


def run_page(ctx: PageContext) -> Page | None:
    run_id = ctx.path_params["run_id"]
    try:  # a unique prefix of a run id names the run (a tenant viewer's: among its tenant's runs)
        if ctx.viewer.tenant_id is not None:
            run_id = resolve_run_id(ctx.store, run_id, ctx.viewer.tenant_id)
            if not _belongs(ctx, run_id):
                return None
        run: dict[str, Any] = run_steps(ctx.store, run_id)
    except AmbiguousRunId as exc:
        return _candidates_page(ctx, exc)
    except ReportError:
        return None
    run_id = run["run_id"]
    steps = run["steps"]
    for i, s in enumerate(steps, start=1):
        s["seq"] = i
    start: datetime = steps[0]["started_at"]
    outcome = ", ".join(
        f"{o['outcome']} ({'success' if o['success'] else 'failed'})" for o in run["outcomes"]
    )
    workflow = run["workflow"]
    crumbs = [("Runs", ctx.link("/runs"))]
    if workflow:
        crumbs.append((f"Workflow {workflow}", ctx.link(f"/workflows/{segment(workflow)}")))
    from costtrail.reports import UnpricedLine

    unpriced = UnpricedLine(run["unpriced"]["events"], tuple(run["unpriced"]["models"]))
    return Page(
        f"Run {run_id}",
        [
            Section(
                "",
                [
                    *unpriced_notice(unpriced),
                    Headline("total_cost", "Run cost", run["total_cost"]),
                    Headline("steps", "Events", len(steps), "int"),
                    Headline("retries", "Retries", sum(int(s["retry_count"] or 0) for s in steps), "int"),
                    Notice(
                        "info",
                        f"Workflow {workflow or '(none)'} · customer {run['customer_id'] or '(none)'} · "
                        f"{'succeeded' if run['succeeded'] else 'did not succeed'}"
                        + (f" · outcome: {outcome}" if outcome else ""),
                    ),
                ],
            ),
            Section(
                "Where this run's money went",
                [
                    charts.run_timeline("timeline", "Steps over time", steps, start=start),
                    charts.cost_waterfall("waterfall", "Cost by step, adding up to the run's total", steps),
                ],
                wide=True,
            ),
            Section(
                "",
                [
                    Table(
                        "steps",
                        "Steps in order",
                        [
                            TableColumn("seq", "#", "int"),
                            TableColumn("started_at", "started"),
                            TableColumn("step", "step"),
                            TableColumn("agent", "agent"),
                            TableColumn("kind", "kind"),
                            TableColumn("model", "model"),
                            TableColumn("status", "status"),
                            TableColumn("retry_count", "retry", "int"),
                            TableColumn("input_tokens", "input tokens", "int"),
                            TableColumn("output_tokens", "output tokens", "int"),
                            TableColumn("cache_read_tokens", "cached", "int"),
                            TableColumn("latency_ms", "latency", "ms"),
                            TableColumn("cost_usd", "cost", "money"),
                            TableColumn("cumulative_cost", "running total", "money"),
                        ],
                        steps,
                        highlight=lambda r: r["status"] != "success",
                        highlight_note="Highlighted: retried or failed steps.",
                    )
                ],
            ),
        ],
        subtitle=f"started {start.isoformat(sep=' ', timespec='seconds')} UTC",
        crumbs=crumbs,
    )
