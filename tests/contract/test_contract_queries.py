"""Rollup SQL written once through the dialect gives the same numbers on both stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.contract.ledger_samples import sample_cost_lines, sample_events, sample_outcomes

from costtrail.ledger.store import Dialect, LedgerStore


def _load(store: LedgerStore) -> None:
    events = sample_events()
    store.append_events(events)
    store.append_outcomes(sample_outcomes(events))
    store.append_cost_lines(sample_cost_lines())


def _rollups(d: Dialect) -> dict[str, str]:
    ev = d.final("events")
    day = d.day("started_at")
    return {
        "workflow_by_day": f"""
            SELECT workflow, {day} AS day, count(*) AS calls, sum(cost_usd) AS cost,
                   count(DISTINCT run_id) AS runs, sum(input_tokens) AS input_tokens,
                   avg(latency_ms) AS avg_latency, {d.quantile("latency_ms", 0.95)} AS p95_latency,
                   sum(CASE WHEN status = 'retry' THEN 1 ELSE 0 END) AS retries
            FROM {ev} GROUP BY workflow, day ORDER BY workflow NULLS LAST, day""",
        "tenant_feature": f"""
            SELECT tenant_id, feature, sum(cost_usd) AS cost, count(*) - count(cost_usd) AS unpriced
            FROM {ev} WHERE started_at >= {d.literal(sample_events(1)[0].started_at)}
            GROUP BY tenant_id, feature ORDER BY tenant_id NULLS LAST, feature""",
        "cost_per_successful_run": f"""
            WITH runs AS (
                SELECT run_id, workflow, sum(cost_usd) AS cost FROM {ev} GROUP BY run_id, workflow
            )
            SELECT r.workflow AS workflow, sum(r.cost) AS cost,
                   sum(CASE WHEN o.success THEN 1 ELSE 0 END) AS successes
            FROM runs r LEFT JOIN {d.final("outcomes")} o ON o.run_id = r.run_id
            GROUP BY r.workflow ORDER BY r.workflow NULLS LAST""",
        "json_attribute": f"""
            SELECT {d.json_value("attributes", "ticket")} AS ticket, count(*) AS n, sum(cost_usd) AS cost
            FROM {ev} GROUP BY ticket ORDER BY ticket NULLS LAST""",
        # Joined as two grouped subqueries: a correlated subquery over a remote (Distributed)
        # table is not supported on a ClickHouse cluster.
        "invoice_vs_usage": f"""
            SELECT b.model AS model, b.billed AS billed, u.usage AS usage
            FROM (SELECT model, sum(billed_cost) AS billed FROM {d.final("cost_lines")} GROUP BY model) b
            LEFT JOIN (SELECT model, sum(cost_usd) AS usage FROM {ev} GROUP BY model) u ON u.model = b.model
            ORDER BY b.model""",
        "money_literal": f"""
            SELECT count(*) AS n FROM {ev} WHERE cost_usd > {d.literal(Decimal("0.0005"))}""",
    }


def _normalize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        out.append({k: pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for k, v in row.items()})
    return out


QUERIES = (
    "workflow_by_day",
    "tenant_feature",
    "cost_per_successful_run",
    "json_attribute",
    "invoice_vs_usage",
    "money_literal",
)


@pytest.fixture
def loaded(both: tuple[LedgerStore, LedgerStore]) -> tuple[LedgerStore, LedgerStore]:
    for store in both:
        _load(store)
    return both


@pytest.mark.parametrize("name", QUERIES)
def test_rollup_is_identical_on_both_stores(loaded: tuple[LedgerStore, LedgerStore], name: str) -> None:
    duck, click = loaded
    expected = duck.query(_rollups(duck.dialect)[name])
    got = click.query(_rollups(click.dialect)[name])
    assert len(expected) > 0
    assert got == _normalize(expected)


def test_money_sums_match_python_to_the_cent(loaded: tuple[LedgerStore, LedgerStore]) -> None:
    events = sample_events()
    by_workflow: dict[str | None, Decimal] = {}
    for e in events:
        by_workflow[e.workflow] = by_workflow.get(e.workflow, Decimal(0)) + (e.cost_usd or Decimal(0))
    for store in loaded:
        rows = store.query(
            f"SELECT workflow, coalesce(sum(cost_usd), 0) AS cost FROM {store.dialect.final('events')} "
            "GROUP BY workflow"
        )
        assert {r["workflow"]: r["cost"] for r in rows} == by_workflow
