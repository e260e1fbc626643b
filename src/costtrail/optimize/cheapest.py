"""The cheapest model that clears the eval bar, priced on the workflow's real production traffic.

For each model with an eval result for the workflow, the workflow's production
model calls are re-priced on it (same prompts; output tokens scaled by the
candidate's ``avg_output_tokens`` over the current model's, when the eval
results give both). The cheapest candidate whose pass rate (or score) is at
least the bar wins; the saving is against the current model mix, per month.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.optimize.evals import EvalResult, read_evals
from costtrail.optimize.traffic import (
    TrafficScope,
    TrafficSummary,
    missing_modalities,
    modalities_used,
    model_kind,
    reprice_llm,
    summarize,
)
from costtrail.pricing import Pricer
from costtrail.schema.amounts import ZERO


@dataclass(frozen=True)
class Candidate:
    """One model's eval result and what the workflow would cost on it."""

    result: EvalResult
    clears: bool
    llm_cost: Decimal
    total_cost: Decimal
    monthly_cost: Decimal
    monthly_saving: Decimal
    per_run: Decimal | None
    unpriced_events: int

    def as_row(self) -> dict[str, Any]:
        r = self.result
        return {
            "model": r.model,
            "pass_rate": r.pass_rate,
            "score": r.score,
            "eval_set": r.eval_set,
            "eval_date": r.eval_date,
            "clears_bar": self.clears,
            "per_run": self.per_run,
            "monthly_cost": self.monthly_cost,
            "monthly_saving": self.monthly_saving,
            "unpriced_calls": self.unpriced_events,
        }


@dataclass(frozen=True)
class CheapestResult:
    workflow: str
    bar: str
    summary: TrafficSummary
    current_monthly: Decimal
    current_models: list[str]
    candidates: list[Candidate]
    chosen: Candidate | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "bar": self.bar,
            "current_models": self.current_models,
            "current_monthly_cost": self.current_monthly,
            "chosen_model": self.chosen.result.model if self.chosen else None,
            "monthly_saving": self.chosen.monthly_saving if self.chosen else None,
            "candidates": [c.as_row() for c in self.candidates],
        }


def _production_models(store: LedgerStore, scope: TrafficScope) -> list[str]:
    rows = store.query(
        f"SELECT model, sum(cost_usd) AS cost FROM {store.dialect.final('events')} "
        f"WHERE kind = 'llm' AND model IS NOT NULL AND {scope.sql(store)} "
        "GROUP BY model ORDER BY cost DESC, model"
    )
    return [r["model"] for r in rows]


def cheapest_model(
    store: LedgerStore,
    scope: TrafficScope,
    *,
    min_pass_rate: float | None = None,
    min_score: float | None = None,
    eval_set: str | None = None,
    pricer: Pricer | None = None,
) -> CheapestResult:
    """Pick the cheapest model whose latest eval result clears ``min_pass_rate`` (or ``min_score``)."""
    if scope.workflow is None:
        raise ValueError("cheapest needs a workflow (--workflow): eval results are per workflow")
    if (min_pass_rate is None) == (min_score is None):
        raise ValueError("give exactly one bar: --min-pass-rate (0..1) or --min-score")
    evals = read_evals(store, scope.workflow, eval_set)
    if not evals:
        raise ValueError(
            f"no eval results for workflow {scope.workflow!r}: import them with costtrail evals import FILE"
        )
    pricer = pricer or Pricer()
    summary = summarize(store, scope)
    if summary.llm_events == 0:
        raise ValueError(f"no production model calls for workflow {scope.workflow!r} in this period")
    current = _production_models(store, scope)
    by_model = {e.model: e for e in evals}
    used = modalities_used(store, scope)
    # only models that can serve the calls: no embedding model for chat, audio traffic on audio models
    evals = [
        e
        for e in evals
        if model_kind(store, e.model) != "embedding" and not missing_modalities(e.model, used)
    ]
    candidates = [_price(store, scope, e, by_model, current, summary, min_pass_rate, min_score, pricer)
                  for e in evals]  # fmt: skip
    candidates.sort(key=lambda c: (c.monthly_cost, c.result.model))
    chosen = next((c for c in candidates if c.clears and c.unpriced_events == 0), None)
    bar = f"pass_rate >= {min_pass_rate}" if min_pass_rate is not None else f"score >= {min_score}"
    return CheapestResult(
        scope.workflow, bar, summary, summary.per_month(summary.total_cost), current, candidates, chosen
    )


def _price(
    store: LedgerStore,
    scope: TrafficScope,
    cand: EvalResult,
    by_model: dict[str, EvalResult],
    current: list[str],
    summary: TrafficSummary,
    min_pass_rate: float | None,
    min_score: float | None,
    pricer: Pricer,
) -> Candidate:
    llm = ZERO
    unpriced = 0
    for model in current:
        ref = by_model.get(model)
        ratio = 1.0
        if ref and ref.avg_output_tokens and cand.avg_output_tokens is not None:
            ratio = cand.avg_output_tokens / ref.avg_output_tokens
        part = reprice_llm(
            store, replace(scope, where={**scope.where, "model": model}), cand.model,
            provider=cand.provider, output_ratio=ratio, pricer=pricer,
        )  # fmt: skip
        llm += part.cost
        unpriced += part.unpriced_events
    total = summary.total_cost - summary.llm_cost + llm
    monthly = summary.per_month(total)
    if min_pass_rate is not None:
        clears = cand.pass_rate is not None and cand.pass_rate >= min_pass_rate
    else:
        clears = cand.score is not None and min_score is not None and cand.score >= min_score
    per_run = (total / summary.runs).quantize(Decimal("0.000001")) if summary.runs else None
    return Candidate(
        cand, clears, llm, total, monthly, summary.per_month(summary.total_cost) - monthly, per_run, unpriced
    )
