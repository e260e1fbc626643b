"""The read API's questions, answered by the reports package, limited to the caller's tenant.

A tenant-bound key sees only its tenant: the filter is added here, never left
to the caller. A run that holds any other tenant's event is not shown to a
tenant key at all (its total would reveal the other tenant's spend).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from costtrail.billing import InvoiceError, PricePlans, line_rows, preview
from costtrail.finance.period import Period, PeriodError
from costtrail.ledger.store import LedgerStore
from costtrail.reports import (
    AmbiguousRunId,
    FilterValue,
    ReportError,
    parse_time,
    report,
    resolve_run_id,
    run_steps,
    view_report,
)
from costtrail.reports.dimensions import resolve_dimension
from costtrail.reports.filters import filter_sql
from costtrail.reports.metrics import METRICS
from costtrail.reports.priced_on import priced_on
from costtrail.reports.views import VIEWS


class ReadError(ValueError):
    """A read parameter is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RunNotFound(LookupError):
    """No run with that id is visible to the caller."""


def parse_filters(items: Sequence[str]) -> dict[str, FilterValue]:
    """``where=customer_id:acme`` items as report filters (repeat a dimension for several values)."""
    filters: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise ReadError("where", f"where={item!r} is not DIMENSION:VALUE, e.g. where=customer_id:acme")
        filters.setdefault(name.strip(), []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in filters.items()}


def cost_report(
    store: LedgerStore,
    *,
    by: Sequence[str],
    metrics: Sequence[str] | None,
    view: str | None,
    where: Sequence[str],
    since: str | None,
    until: str | None,
    limit: int | None,
    tenant: str | None,
    as_priced_on: str | None = None,
) -> dict[str, Any]:
    """``report`` (or a named view) over the caller's tenant, as the JSON shape of ``ReportResult``."""
    filters = parse_filters(where)
    for name, value in filters.items():
        try:
            filter_sql(store.dialect, resolve_dimension(name, store.dialect), value)
        except ReportError as exc:
            raise ReadError("where", str(exc)) from exc
    if tenant is not None:
        filters["tenant_id"] = tenant
    lo, hi = _time("since", since), _time("until", until)
    _check_names(store, by=by, metrics=metrics, view=view)
    if as_priced_on:
        try:
            store = priced_on(store, date.fromisoformat(as_priced_on))
        except ValueError:
            raise ReadError(
                "as_priced_on", f"as_priced_on takes a day as YYYY-MM-DD, got {as_priced_on!r}"
            ) from None
    try:
        if view:
            result = view_report(store, view, filters=filters, since=lo, until=hi, limit=limit)
        else:
            result = report(store, by=by, metrics=metrics, filters=filters, since=lo, until=hi, limit=limit)
    except ReportError as exc:
        raise ReadError("view" if view else "by", str(exc)) from exc
    return result.as_dict()


def _time(field: str, text: str | None) -> datetime | None:
    try:
        return parse_time(text) if text else None
    except ReportError as exc:
        raise ReadError(field, str(exc)) from exc


def _check_names(
    store: LedgerStore, *, by: Sequence[str], metrics: Sequence[str] | None, view: str | None
) -> None:
    """Each parameter that names dimensions, metrics or a view is checked on its own, so the 422 names it."""
    if view:
        if view not in VIEWS:
            raise ReadError("view", f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
        return
    for name in by:
        try:
            resolve_dimension(name, store.dialect)
        except ReportError as exc:
            raise ReadError("by", str(exc)) from exc
    unknown = [m for m in metrics or () if m not in METRICS]
    if unknown:
        raise ReadError("metrics", f"unknown metric {unknown[0]!r}: choose from {', '.join(METRICS)}")


def run_detail(store: LedgerStore, run_id: str, tenant: str | None) -> dict[str, Any]:
    """One run's summary, outcomes and steps (see :func:`costtrail.reports.run_steps`).

    ``run_id`` may be a prefix naming one run (among the tenant's, for a tenant key); a prefix of
    several raises :class:`AmbiguousRunId` with the candidates.
    """
    try:
        run_id = resolve_run_id(store, run_id, tenant)
    except AmbiguousRunId:
        raise
    except ReportError as exc:
        raise RunNotFound(run_id) from exc
    if tenant is not None:
        d = store.dialect
        rows = store.query(
            f"SELECT count(*) AS n, sum(CASE WHEN tenant_id = {d.literal(tenant)} THEN 1 ELSE 0 END) AS mine "
            f"FROM {d.final('events')} WHERE run_id = {d.literal(run_id)}"
        )
        if not rows or not rows[0]["n"] or rows[0]["mine"] != rows[0]["n"]:
            raise RunNotFound(run_id)
    try:
        return run_steps(store, run_id)
    except ReportError as exc:
        raise RunNotFound(run_id) from exc


def _plans(plans: PricePlans | None) -> PricePlans:
    if plans is None:
        raise ReadError(
            "plans", "this collector has no price plans: start it with costtrail serve --plans plans.yaml"
        )
    return plans


def invoices(
    store: LedgerStore, plans: PricePlans | None, period: str, customer: str | None
) -> dict[str, Any]:
    """Invoice previews of a period (:func:`costtrail.billing.preview`) as JSON-ready data."""
    known = _plans(plans)
    try:
        p = Period.parse(period)
    except PeriodError as exc:
        raise ReadError("period", str(exc)) from exc
    try:
        return preview(store, known, p, customer).as_dict()
    except InvoiceError as exc:
        raise ReadError("customer", str(exc)) from exc


def invoice_line(
    store: LedgerStore, plans: PricePlans | None, line: str, limit: int | None
) -> dict[str, Any]:
    """The events, runs or outcomes behind one invoice line (:func:`costtrail.billing.line_rows`)."""
    known = _plans(plans)
    try:
        return line_rows(store, known, line, limit)
    except (InvoiceError, PeriodError) as exc:
        raise ReadError("line_id", str(exc)) from exc
