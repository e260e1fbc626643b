"""Finance: reconciliation against provider bills, allocations of shared costs, FOCUS download.

Shown when the ledger holds cost lines (imported bills, shared pools, allocations)
and only to readers of every tenant: bills and pools are not tenant-scoped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from costtrail.export.focus_export import focus_records, write_focus
from costtrail.ledger.store import LedgerStore
from costtrail.reconcile.engine import reconcile
from costtrail.web import charts
from costtrail.web.blocks import Headline, Page, Section, Table, TableColumn
from costtrail.web.pages.context import PageContext, period_of

RECON_ROWS = 200


def has_cost_lines(store: LedgerStore) -> bool:
    rows = store.query(f"SELECT count(*) AS n FROM {store.dialect.final('cost_lines')}")
    return bool(rows and int(rows[0]["n"]))


def _allocations(ctx: PageContext) -> list[dict[str, Any]]:
    """Stored allocation lines of the period, per rule, target and confidence."""
    d = ctx.store.dialect
    period = period_of(ctx)
    return ctx.store.query(
        "SELECT rule_id, kind, target_dimension, target_value, confidence, sum(billed_cost) AS amount, "
        "count(*) AS lines "
        f"FROM {d.final('cost_lines')} WHERE kind IN ('allocated', 'unallocated') "
        f"AND charge_period_start < {d.literal(period.end)} "
        f"AND charge_period_end > {d.literal(period.start)} "
        "GROUP BY rule_id, kind, target_dimension, target_value, confidence "
        "ORDER BY rule_id, amount DESC"
    )


def finance_page(ctx: PageContext) -> Page | None:
    if ctx.viewer.tenant_id is not None:
        return None
    period = period_of(ctx)
    rec = reconcile(ctx.store, period)
    summary = rec.summary()
    lines = [ln.as_dict() for ln in rec.lines]
    allocations = _allocations(ctx)
    return Page(
        "Finance",
        [
            Section(
                "Reconciliation",
                [
                    Headline("billed", "Billed", summary["billed"]),
                    Headline("computed", "Computed from events", summary["computed"]),
                    Headline("variance", "Variance", summary["variance"]),
                    Headline("coverage", "Bill coverage by telemetry", summary["coverage_pct"] / 100, "pct"),
                    charts.stacked_bars(
                        "variance-by-day",
                        "Variance (billed - computed) by day",
                        lines,
                        x="day",
                        series="model",
                        y="variance",
                    ),
                ],
            ),
            Section(
                "",
                [
                    Table(
                        "reconciliation",
                        "Billed vs computed by day, provider, account and model",
                        [
                            TableColumn("day", "day"),
                            TableColumn("provider", "provider"),
                            TableColumn("provider_account", "account"),
                            TableColumn("model", "model"),
                            TableColumn("billed", "billed", "money"),
                            TableColumn("computed", "computed", "money"),
                            TableColumn("variance", "variance", "money"),
                            TableColumn("variance_pct", "variance %", "num"),
                            TableColumn("confidence", "confidence"),
                            TableColumn("flags", "flags"),
                        ],
                        sorted(lines, key=lambda r: (not r["flags"], r["day"]))[:RECON_ROWS],
                        highlight=lambda r: bool(r["flags"]),
                        highlight_note="Highlighted: lines with a finding (unmatched, price, variance).",
                    ),
                    Table(
                        "allocations",
                        "Allocations by rule",
                        [
                            TableColumn("rule_id", "rule"),
                            TableColumn("kind", "kind"),
                            TableColumn("target_dimension", "to"),
                            TableColumn("target_value", "target"),
                            TableColumn("confidence", "confidence"),
                            TableColumn("amount", "amount", "money"),
                            TableColumn("lines", "lines", "int"),
                        ],
                        allocations,
                        note=f"FOCUS {period.label}: download at {ctx.link('/finance/focus.csv')}",
                    ),
                ],
            ),
        ],
        subtitle=f"{period.label} · FOCUS export: /finance/focus.csv (same filters)",
    )


def focus_csv(ctx: PageContext) -> str:
    """The period as a FOCUS 1.2 CSV (telemetry, bills, allocations; see docs/finance)."""
    records = focus_records(ctx.store, period_of(ctx))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "focus.csv"
        write_focus(records, path)
        return path.read_text(encoding="utf-8")
