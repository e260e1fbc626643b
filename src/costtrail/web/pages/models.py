"""Models and providers: the mix over time, effective price per million tokens, caching."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costtrail.optimize.traffic import TrafficScope
from costtrail.optimize.whatif import what_if
from costtrail.reports import Metric, MetricDef, Ratio, report
from costtrail.web import charts
from costtrail.web.blocks import Notice, Page, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, unpriced_notice, window
from costtrail.web.querying import together

MILLION = Decimal(1_000_000)
# the models table's columns (the model view without the averages it does not draw)
MIX = ("total_cost", "model_calls", "total_input_tokens", "total_cache_read_tokens", "total_output_tokens",
       "p95_latency_ms", "failure_rate", "unpriced_events")  # fmt: skip
TOTAL_TOKENS = Metric(
    "total_tokens", "sum(input_tokens) + sum(output_tokens)", "tokens", "input + output tokens"
)
COST_PER_TOKEN = Ratio("cost_per_token", "total_cost", "total_tokens", "usd", "total_cost / total_tokens")
CACHED_SHARE = Ratio(
    "cached_share", "total_cache_read_tokens", "total_input_tokens", "ratio", "cache reads / input tokens"
)
RATES: list[str | MetricDef] = [
    "total_cost",
    "total_input_tokens",
    "total_cache_read_tokens",
    TOTAL_TOKENS,
    COST_PER_TOKEN,
    CACHED_SHARE,
]


def models_page(ctx: PageContext) -> Page:
    store, scope = ctx.store, window(ctx)
    mix, rates, daily = together(
        store,
        lambda: report(store, by=["provider", "model"], metrics=MIX, **scope),
        lambda: report(
            store,
            by=["provider", "model"],
            metrics=RATES,
            filters={"kind": ["llm", "embedding"], **scope["filters"]},
            since=ctx.filters.since,
            until=ctx.filters.until,
        ),
        lambda: report(store, by=["day", "model"], metrics=["total_cost"], order_by=["day"], **scope),
    )
    per_model = {(r["provider"], r["model"]): r for r in rates}
    rows = []
    for r in mix:
        if r["model"] is None:
            continue
        rate = per_model.get((r["provider"], r["model"]), {})
        per_token = rate.get("cost_per_token")
        rows.append(
            {
                **r,
                "cost_per_mtok": per_token * MILLION if per_token is not None else None,
                "cached_share": rate.get("cached_share"),
            }
        )
    hints = _whatif_hints(ctx, rows)
    return Page(
        "Models & providers",
        [
            Section(
                "",
                [
                    *unpriced_notice(mix.unpriced),
                    *hints,
                    charts.stacked_bars(
                        "model-mix",
                        "Model mix over time (daily cost)",
                        daily,
                        x="day",
                        series="model",
                        y="total_cost",
                    ),
                    charts.hbars(
                        "cost-per-mtok",
                        "Effective cost per million tokens",
                        rows,
                        label="model",
                        value="cost_per_mtok",
                    ),
                    charts.hbars(
                        "cached-share",
                        "Cached share of input tokens",
                        rows,
                        label="model",
                        value="cached_share",
                        money=False,
                    ),
                ],
            ),
            Section(
                "",
                [
                    Table(
                        "models",
                        "Models",
                        [
                            TableColumn("provider", "provider"),
                            TableColumn("model", "model"),
                            TableColumn("total_cost", "total cost", "money"),
                            TableColumn("model_calls", "calls", "int"),
                            TableColumn("total_input_tokens", "input tokens", "int"),
                            TableColumn("total_cache_read_tokens", "cached tokens", "int"),
                            TableColumn("cached_share", "cached share", "pct"),
                            TableColumn("total_output_tokens", "output tokens", "int"),
                            TableColumn("cost_per_mtok", "$ / Mtok effective", "money"),
                            TableColumn("p95_latency_ms", "p95 latency", "ms"),
                            TableColumn("failure_rate", "failure rate", "pct"),
                            TableColumn("unpriced_events", "unpriced", "int"),
                        ],
                        rows,
                    )
                ],
            ),
        ],
    )


def _whatif_hints(ctx: PageContext, rows: list[dict[str, Any]]) -> list[Notice]:
    """Point at the what-if of moving the costliest model's traffic to the cheapest one in use."""
    priced = [r for r in rows if r.get("cost_per_mtok") and r.get("model_calls")]
    if len(priced) < 2:
        return []
    costliest = max(priced, key=lambda r: r["total_cost"] or 0)
    cheapest = min(priced, key=lambda r: r["cost_per_mtok"])
    if cheapest is costliest:
        return []
    href = ctx.link(
        "/models/whatif", hint_from=str(costliest["model"]), hint_to=str(cheapest["model"]),
        hint_provider=str(cheapest["provider"] or ""),
    )  # fmt: skip
    text = (
        f"What if: {costliest['model']} carries the most cost; {cheapest['model']} is the cheapest "
        "model in use per token. See this traffic repriced on it."
    )
    return [Notice("info", text, href)]


def whatif_page(ctx: PageContext) -> Page | None:
    """The scope's calls of one model repriced on another (``optimize.what_if``), on demand."""
    source, target = ctx.query.get("hint_from"), ctx.query.get("hint_to")
    if not source or not target:
        return None
    scope = TrafficScope(
        since=ctx.filters.since, until=ctx.filters.until, where={**ctx.filters.where(), "model": source}
    )
    result = what_if(ctx.store, scope, target, provider=ctx.query.get("hint_provider") or None)
    return Page(
        f"What if {source} traffic ran on {target}",
        [
            Section(
                "",
                [
                    Notice(
                        "info",
                        "Same calls and token counts, priced on the other model (tokenizers and answer "
                        "lengths differ: check quality with costtrail cheapest and an eval first).",
                    ),
                    Table(
                        "whatif",
                        "Current vs what-if cost",
                        [
                            TableColumn("metric", "figure"),
                            TableColumn("current", "current", "money"),
                            TableColumn("what_if", f"on {target}", "money"),
                            TableColumn("change_pct", "change %", "num"),
                        ],
                        result.rows(),
                    ),
                ],
            )
        ],
        crumbs=[("Models & providers", ctx.link("/models"))],
    )
