"""Report plans: each a way to compute a report's rows, with the rule for when it applies.

:data:`PLANS` is the one place a plan is chosen: the first whose ``applies``
holds runs the report. Every plan returns the same raw rows (``d<i>``,
``s<i>``, ``m<i>`` columns, ordered and limited); the contract test
tests/contract/test_contract_report_plans.py holds them to identical results.
A new metric needs no plan change: add it to the table in ``metrics.py``
(with ``parts``/``combine`` if it can split per run).
"""

from __future__ import annotations

from typing import Any, Protocol

from costtrail.reports.plan_sql import PlanRequest
from costtrail.reports.plans.index import IndexPlan
from costtrail.reports.plans.single_stage import SingleStagePlan
from costtrail.reports.plans.staged import StagedPlan


class QueryPlan(Protocol):
    name: str
    rule: str
    """When the plan applies, in words (its ``applies`` is the same rule in code)."""

    def applies(self, request: PlanRequest) -> bool: ...

    def rows(self, request: PlanRequest) -> list[dict[str, Any]]: ...


PLANS: tuple[QueryPlan, ...] = (IndexPlan(), StagedPlan(), SingleStagePlan())
"""In order of preference; the last always applies."""


def choose_plan(request: PlanRequest) -> QueryPlan:
    """The first plan of :data:`PLANS` that applies to ``request``."""
    return next(plan for plan in PLANS if plan.applies(request))


__all__ = ["PLANS", "IndexPlan", "PlanRequest", "QueryPlan", "SingleStagePlan", "StagedPlan", "choose_plan"]
