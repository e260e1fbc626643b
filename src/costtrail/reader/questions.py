"""Every read question a command asks, answered from a store: one function per question.

Arguments arrive as JSON values (times as the user typed them, ``7d`` or a date; files'
contents as text) and are read here, so a question answered here and one answered by a
collector read them the same way. Each returns JSON-able data with exact decimals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.reader.base import ReadFailed
from costtrail.reports import ReportError, ReportResult, parse_time

Question = Callable[[LedgerStore, dict[str, Any]], Any]


def _time(args: dict[str, Any], name: str) -> datetime | None:
    text = args.get(name)
    try:
        return parse_time(text) if text else None
    except ReportError as exc:
        raise ReadFailed(str(exc), field=name) from exc


def _day(args: dict[str, Any], name: str) -> date | None:
    """A UTC day (``2026-06-01``) argument; a clear error naming the option otherwise."""
    text = args.get(name)
    if not text:
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ReadFailed(
            f"{name.replace('_', '-')} takes a day as YYYY-MM-DD, got {text!r}", field=name
        ) from None


def result_dict(result: ReportResult, title: str) -> dict[str, Any]:
    return {**result.as_dict(), "units": result.units, "title": title}


def _report(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.reports import DEFAULT_METRICS, Bands, failed_spend, get_view, report, view_names

    dims: list[str] = a.get("by") or ["workflow"]
    filters = a.get("where") or {}
    since, until = _time(a, "since"), _time(a, "until")
    band_on = a.get("band_on") or "payload_bytes"
    bands: Bands | None = None
    if a.get("bands") or band_on != "payload_bytes":
        bands = _bands(a.get("bands"), band_on)
    if a.get("failed"):
        names = get_view(dims[0]).by if len(dims) == 1 and dims[0] in view_names() else tuple(dims)
        return result_dict(
            failed_spend(store, names, filters, since, until), f"Failed-run spend by {', '.join(dims)}"
        )
    limit = a.get("limit")
    priced_on = _day(a, "as_priced_on")
    if len(dims) == 1 and not a.get("metrics"):
        view = get_view(dims[0])
        result = report(
            store,
            by=view.by,
            metrics=view.metrics,
            filters={**view.filters, **filters},
            since=since,
            until=until,
            limit=limit,
            order_by=view.order_by,
            payload_bands=bands,
            as_priced_on=priced_on,
        )
        return result_dict(result, f"Cost by {view.name}")
    metrics = [m.strip() for m in a["metrics"].split(",")] if a.get("metrics") else list(DEFAULT_METRICS)
    result = report(
        store, dims, metrics, filters, since, until, limit, payload_bands=bands, as_priced_on=priced_on
    )
    return result_dict(result, f"Cost by {', '.join(dims)}")


def _bands(edges: str | None, measure: str) -> Any:
    from costtrail.reports import Bands

    if measure not in ("payload_bytes", "input_tokens"):
        raise ReportError(f"--band-on takes payload_bytes or input_tokens, not {measure!r}")
    try:
        parsed = tuple(int(e) for e in edges.split(",")) if edges else None
    except ValueError:
        raise ReportError(f"--bands takes increasing integers separated by commas, got {edges!r}") from None
    if parsed is None:
        return Bands("input_tokens", (1_000, 4_000, 16_000, 64_000)) if measure == "input_tokens" else Bands()
    return Bands(measure, parsed)  # type: ignore[arg-type]


def _runs(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.reports import top_runs

    top = int(a.get("top") or 10)
    result = top_runs(store, top, a.get("where") or {}, _time(a, "since"), _time(a, "until"))
    return result_dict(result, f"Top {top} runs by cost")


def _run(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.reports import AmbiguousRunId, run_steps

    try:
        return run_steps(store, str(a["run_id"]))
    except AmbiguousRunId as exc:
        raise ReadFailed(str(exc), "not_found") from exc
    except ReportError as exc:
        raise ReadFailed(str(exc), "not_found") from exc


def _controls(a: dict[str, Any]) -> Any:
    from costtrail.controls.config import ControlsConfig, ControlsConfigError

    try:
        return ControlsConfig.from_yaml(a["config"], source=a.get("config_name") or "<controls>")
    except ControlsConfigError as exc:
        raise ReadFailed(str(exc)) from exc


def _budgets(store: LedgerStore, a: dict[str, Any]) -> list[dict[str, Any]]:
    from costtrail.controls.budgets import BudgetGate
    from costtrail.controls.spend import StoreSpend

    gate = BudgetGate(_controls(a).budgets, source=StoreSpend(store))
    return [s.as_row() for s in gate.status()]


def _alerts(store: LedgerStore, a: dict[str, Any]) -> list[dict[str, Any]]:
    from costtrail.controls.alerts import read_alerts

    return read_alerts(store, since=_time(a, "since"), kind=a.get("kind"))


def _forecast(store: LedgerStore, a: dict[str, Any]) -> list[dict[str, Any]]:
    from costtrail.optimize.trends import forecast

    budgets = _controls(a).budgets if a.get("config") else ()
    return forecast(store, datetime.now(UTC), budgets)


def _scope(a: dict[str, Any]) -> Any:
    from costtrail.optimize.traffic import TrafficScope

    return TrafficScope(workflow=a.get("workflow"), since=_time(a, "since"), until=_time(a, "until"))


def _drift(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.optimize.trends import drift

    return drift(store, _scope(a), by=a.get("by") or "day")


def _whatif(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.optimize.whatif import what_if

    ratio = float(a.get("token_ratio") or 1.0)
    result = what_if(store, _scope(a), a["model"], provider=a.get("provider"), token_ratio=ratio)
    return {
        "data": result.as_dict(),
        "rows": result.rows(),
        "unpriced_events": result.repriced.unpriced_events,
    }


def _needs_workflow(question: str, a: dict[str, Any]) -> None:
    """Eval results are per workflow: a question over them names the argument it lacks."""
    if not a.get("workflow"):
        raise ReadFailed(
            f'{question} needs a workflow (--workflow; "workflow" in the JSON body)', field="workflow"
        )


def _cheapest(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.optimize.cheapest import cheapest_model

    _needs_workflow("cheapest", a)
    result = cheapest_model(
        store, _scope(a), min_pass_rate=a.get("min_pass_rate"), min_score=a.get("min_score"),
        eval_set=a.get("eval_set"),
    )  # fmt: skip
    chosen = result.chosen
    return {
        "data": result.as_dict(),
        "rows": [c.as_row() for c in result.candidates],
        "bar": str(result.bar),
        "chosen_model": chosen.result.model if chosen else None,
        "monthly_saving": chosen.monthly_saving if chosen else None,
        "current_models": list(result.current_models),
    }


def _audit(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.optimize.audit import audit

    _needs_workflow("audit", a)
    result = audit(
        store, _scope(a), sample=int(a.get("sample") or 100), factor=float(a.get("factor") or 1.5),
        model=a.get("model"), eval_set=a.get("eval_set"),
    )  # fmt: skip
    return {
        "data": result.as_dict(),
        "rows": [line.as_row() for line in result.lines],
        "model": result.model,
        "eval_set": result.eval_set,
        "drifted": list(result.drifted),
    }


def _period(a: dict[str, Any]) -> Any:
    from costtrail.finance.period import Period, PeriodError

    try:
        return Period.parse(a["period"])
    except PeriodError as exc:
        raise ReadFailed(str(exc)) from exc


def _reconcile(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.reconcile import Tolerance, reconcile

    rec = reconcile(store, _period(a), Tolerance(pct=Decimal(a.get("tolerance") or 1)))
    return {
        "summary": rec.summary(),
        "findings": [f.as_dict() for f in rec.findings],
        "lines": [ln.as_dict() for ln in rec.lines],
    }


def _unit_cost(store: LedgerStore, a: dict[str, Any]) -> dict[str, Any]:
    from costtrail.finance.unit_economics import cost_per_outcome

    factor = a.get("drift_factor")
    d = store.dialect
    known = [
        r["outcome"] for r in store.query(f"SELECT DISTINCT outcome FROM {d.final('outcomes')} ORDER BY 1")
    ]
    if a["outcome"] not in known:
        raise ReadFailed(
            f"no outcome {a['outcome']!r} in the ledger: outcomes recorded are {', '.join(known) or 'none'}",
            "not_found",
        )
    result = cost_per_outcome(
        store, a["outcome"], _period(a), target=a.get("target"), drift_factor=factor or Decimal("1.25")
    )
    return result.as_dict()


def _cost_to_serve(store: LedgerStore, a: dict[str, Any]) -> list[dict[str, Any]]:
    from costtrail.finance.unit_economics import cost_to_serve

    return [r.as_dict() for r in cost_to_serve(store, _period(a), a.get("by") or "customer")]


def _margins(store: LedgerStore, a: dict[str, Any]) -> list[dict[str, Any]]:
    from costtrail.finance.unit_economics import cost_to_serve, margin_dilutive

    rows = cost_to_serve(store, _period(a), a.get("by") or "customer")
    return margin_dilutive(rows, a.get("threshold") or Decimal(0))


QUESTIONS: dict[str, Question] = {
    "report": _report,
    "runs": _runs,
    "run": _run,
    "budgets": _budgets,
    "alerts": _alerts,
    "forecast": _forecast,
    "drift": _drift,
    "whatif": _whatif,
    "cheapest": _cheapest,
    "audit": _audit,
    "reconcile": _reconcile,
    "unit-cost": _unit_cost,
    "cost-to-serve": _cost_to_serve,
    "margins": _margins,
}


def answer(store: LedgerStore, question: str, args: dict[str, Any]) -> Any:
    """The answer to ``question`` from ``store``; :class:`ReadFailed` for a bad question or argument."""
    ask = QUESTIONS.get(question)
    if ask is None:
        raise ReadFailed(f"no read question {question!r}: one of {', '.join(QUESTIONS)}", "not_found")
    try:
        return ask(store, args)
    except ReadFailed:
        raise
    except KeyError as exc:  # a required argument not given
        name = str(exc.args[0]) if exc.args else "?"
        raise ReadFailed(
            f"the {question!r} question needs the argument {name!r}: give it in the JSON body, "
            f'e.g. {{"{name}": ...}}',
            field=name,
        ) from exc
    except (ReportError, ValueError) as exc:
        raise ReadFailed(str(exc)) from exc
