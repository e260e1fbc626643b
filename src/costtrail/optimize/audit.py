"""Audit: does production still look like the eval set the model was chosen on?

A deterministic sample of the workflow's production model calls (ordered by
event id, which is random) is compared, dimension by dimension, with the eval
result of the same model: input and output tokens per call, tool calls per
run, retries per run, calls per run, and cost per call (the eval's token shape
priced like production). A dimension drifts when production / eval is above
``factor`` or below ``1 / factor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.optimize.evals import EvalResult, read_evals
from costtrail.optimize.traffic import TrafficScope
from costtrail.pricing import Pricer
from costtrail.schema import Event
from costtrail.schema.amounts import MICRO


@dataclass(frozen=True)
class AuditLine:
    dimension: str
    production: float | Decimal | None  # Decimal for money
    eval: float | Decimal | None
    ratio: float | None
    drifted: bool

    def as_row(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "production": self.production,
            "eval": self.eval,
            "ratio": self.ratio,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class Audit:
    workflow: str
    model: str
    eval_set: str
    sampled_calls: int
    factor: float
    lines: list[AuditLine]

    @property
    def drifted(self) -> list[str]:
        return [line.dimension for line in self.lines if line.drifted]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "model": self.model,
            "eval_set": self.eval_set,
            "sampled_calls": self.sampled_calls,
            "factor": self.factor,
            "drifted": self.drifted,
            "lines": [line.as_row() for line in self.lines],
        }


def audit(
    store: LedgerStore,
    scope: TrafficScope,
    *,
    sample: int = 100,
    factor: float = 1.5,
    model: str | None = None,
    eval_set: str | None = None,
    pricer: Pricer | None = None,
) -> Audit:
    """Compare ``sample`` production calls of the workflow with the eval result of their model."""
    if scope.workflow is None:
        raise ValueError("audit needs a workflow (--workflow)")
    if factor <= 1:
        raise ValueError("factor must be above 1 (1.5 flags a 50% drift either way)")
    evals = {e.model: e for e in read_evals(store, scope.workflow, eval_set)}
    if not evals:
        raise ValueError(f"no eval results for workflow {scope.workflow!r}: costtrail evals import FILE")
    lit = store.dialect.literal
    events = store.dialect.final("events")
    where = f"kind = 'llm' AND {scope.sql(store)}"
    if model is None:
        top = store.query(
            f"SELECT model, count(*) AS n FROM {events} WHERE {where} AND model IN "
            f"({', '.join(lit(m) for m in sorted(evals))}) GROUP BY model ORDER BY n DESC, model LIMIT 1"
        )
        if not top:
            raise ValueError(f"no production calls of {scope.workflow!r} on a model with eval results")
        model = str(top[0]["model"])
    if model not in evals:
        raise ValueError(f"no eval result for model {model!r} on workflow {scope.workflow!r}")
    ev = evals[model]
    where += f" AND model = {lit(model)}"
    rows = store.query(
        f"SELECT provider, started_at, input_tokens, output_tokens, cost_usd FROM {events} "
        f"WHERE {where} ORDER BY event_uuid LIMIT {int(sample)}"
    )
    if not rows:
        raise ValueError(f"no production calls of {scope.workflow!r} on {model!r} in this period")
    runs = store.query(
        f"SELECT count(*) AS calls, count(DISTINCT run_id) AS runs, sum(tool_calls) AS tools, "
        f"sum(CASE WHEN retry_count > 0 OR status = 'retry' THEN 1 ELSE 0 END) AS retries "
        f"FROM {events} WHERE {where} AND run_id IS NOT NULL"
    )[0]
    n = len(rows)
    prod_in = sum(int(r["input_tokens"]) for r in rows) / n
    prod_out = sum(int(r["output_tokens"]) for r in rows) / n
    prod_cost = (sum((Decimal(str(r["cost_usd"] or 0)) for r in rows), Decimal(0)) / n).quantize(MICRO)
    n_runs = int(runs["runs"] or 0)

    def per_run(total: Any) -> float | None:
        return float(total or 0) / n_runs if n_runs else None

    eval_cost = _eval_cost(ev, rows[0]["provider"], rows[0]["started_at"], pricer or Pricer())
    lines = [
        _line("input tokens per call", prod_in, ev.avg_input_tokens, factor),
        _line("output tokens per call", prod_out, ev.avg_output_tokens, factor),
        _line("calls per run", per_run(runs["calls"]), ev.avg_calls_per_run, factor),
        _line("tool calls per run", per_run(runs["tools"]), ev.avg_tool_calls, factor),
        _line("retries per run", per_run(runs["retries"]), ev.avg_retries, factor),
        _line("cost per call", prod_cost, eval_cost, factor),
    ]
    return Audit(scope.workflow, model, ev.eval_set, n, factor, lines)


def _eval_cost(ev: EvalResult, provider: str | None, at: Any, pricer: Pricer) -> Decimal | None:
    if ev.avg_input_tokens is None or ev.avg_output_tokens is None:
        return None
    price = pricer.price(
        Event(
            provider=provider,
            model=ev.model,
            input_tokens=round(ev.avg_input_tokens),
            output_tokens=round(ev.avg_output_tokens),
            started_at=at,
        )
    )
    return None if price.unpriced or price.cost_usd is None else price.cost_usd.quantize(MICRO)


def _line(
    name: str, production: float | Decimal | None, expected: float | Decimal | None, factor: float
) -> AuditLine:
    if production is None or expected is None:
        return AuditLine(name, production, expected, None, False)
    shown = production if isinstance(production, Decimal) else round(production, 6)
    if expected == 0:
        # Nothing in the eval (no retries, no tools): drift is an absolute amount, not a ratio.
        return AuditLine(name, shown, expected, None, float(production) > factor - 1)
    ratio = float(production) / float(expected)
    return AuditLine(name, shown, expected, round(ratio, 3), ratio > factor or ratio < 1 / factor)
