"""What-if repricing: the real traffic of a scope, priced on another model.

>>> # costtrail whatif --workflow support_reply --model claude-haiku-4-5 --token-ratio 1.2
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.optimize.traffic import (
    Repriced,
    TrafficScope,
    TrafficSummary,
    check_serves,
    reprice_llm,
    summarize,
)
from costtrail.pricing import Pricer
from costtrail.schema.amounts import MICRO


@dataclass(frozen=True)
class WhatIf:
    """Old vs new cost of a scope: total, per run, per successful completion and per 30-day month."""

    scope: TrafficScope
    model: str
    input_ratio: float
    output_ratio: float
    summary: TrafficSummary
    repriced: Repriced

    @property
    def old_total(self) -> Decimal:
        return self.summary.total_cost

    @property
    def new_total(self) -> Decimal:
        # Only model calls change; retrieval, tools and infrastructure keep their cost.
        return self.summary.total_cost - self.summary.llm_cost + self.repriced.cost

    def rows(self) -> list[dict[str, Any]]:
        """One row per figure: ``metric, current, on_<model>, change_pct``."""
        s = self.summary
        figures = [
            ("total", self.old_total, self.new_total),
            ("per run", _div(self.old_total, s.runs), _div(self.new_total, s.runs)),
            (
                "per successful completion",
                _div(self.old_total, s.successful_runs),
                _div(self.new_total, s.successful_runs),
            ),
            ("per month (30 days)", s.per_month(self.old_total), s.per_month(self.new_total)),
        ]
        rows: list[dict[str, Any]] = [
            {"metric": name, "current": old, "what_if": new, "change_pct": _pct(old, new)}
            for name, old, new in figures
        ]
        # said in the table: calls the new model has no price for are not in its figures
        rows.append(
            {
                "metric": f"model calls / of them unpriced on {self.model}",
                "current": s.llm_events,
                "what_if": self.repriced.unpriced_events,
                "change_pct": None,
            }
        )
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.scope.workflow,
            "model": self.model,
            "input_token_ratio": self.input_ratio,
            "output_token_ratio": self.output_ratio,
            "events": self.summary.events,
            "model_calls": self.summary.llm_events,
            "runs": self.summary.runs,
            "successful_runs": self.summary.successful_runs,
            "days": self.summary.days,
            "unpriced_on_new_model": self.repriced.unpriced_events,
            "figures": self.rows(),
            "by_current_model": self.repriced.by_model,
        }


def _div(amount: Decimal, n: int) -> Decimal | None:
    return (amount / n).quantize(MICRO) if n else None


def _pct(old: Decimal | None, new: Decimal | None) -> float | None:
    if old is None or new is None or old == 0:
        return None
    return round(float((new - old) / old * 100), 2)


def what_if(
    store: LedgerStore,
    scope: TrafficScope,
    model: str,
    *,
    provider: str | None = None,
    token_ratio: float = 1.0,
    output_ratio: float | None = None,
    pricer: Pricer | None = None,
) -> WhatIf:
    """Re-price the scope's model calls on ``model``.

    ``token_ratio`` scales every token count (the new model's tokenizer or verbosity
    vs the current one); ``output_ratio``, when given, overrides it for output tokens.
    """
    if token_ratio <= 0 or (output_ratio is not None and output_ratio <= 0):
        raise ValueError("token ratios must be positive (1.0 = same tokens)")
    out_ratio = token_ratio if output_ratio is None else output_ratio
    check_serves(store, scope, model, provider)
    summary = summarize(store, scope)
    repriced = reprice_llm(
        store, scope, model, provider=provider, input_ratio=token_ratio, output_ratio=out_ratio, pricer=pricer
    )
    return WhatIf(scope, model, token_ratio, out_ratio, summary, repriced)
