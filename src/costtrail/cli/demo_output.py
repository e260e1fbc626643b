"""The demo report's sections that the CLI prints (the demo itself only computes them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costtrail.cli.output import Format, print_rows
from costtrail.demo.controls_demo import ControlsDemo
from costtrail.reports.money import format_usd


def print_controls_demo(console: Any, demo: ControlsDemo, controls_file: str, ledger: str) -> None:
    """The demo report's controls section: budgets, what the tripped one blocked, alerts, cheapest model."""
    console.print()
    print_rows(
        demo.budgets, Format.table, console=console, title=f"Budgets ({controls_file})",
        columns=["budget", "scope", "period", "action", "limit", "spent", "used_pct", "status"],
    )  # fmt: skip
    if demo.blocked_calls:
        console.print(
            f"Yesterday {demo.tenant} replayed a week of traffic: {demo.admitted_calls} calls passed, "
            f"[bold red]{demo.blocked_calls} were blocked[/] (HTTP 429 at the gateway): {demo.denial}"
        )
    print_rows(demo.alert_rows(), Format.table, console=console, title="Alerts (costtrail alerts)")
    pick = demo.cheapest
    if pick and pick["chosen_model"]:
        console.print(
            f"Cheapest model for support_reply with pass rate >= 0.9: [bold]{pick['chosen_model']}[/], "
            f"saving {format_usd(Decimal(str(pick['monthly_saving'])))}/month "
            f"vs {', '.join(pick['current_models'])} "
            f"(costtrail cheapest --workflow support_reply --min-pass-rate 0.9 --ledger {ledger})"
        )
    if demo.drifted:
        console.print(
            f"Audit of support_reply against its eval set: drifted on {', '.join(demo.drifted)} "
            f"(costtrail audit --workflow support_reply --sample 100 --ledger {ledger})"
        )
    console.print(
        f"Next: costtrail budgets --config {controls_file} --ledger {ledger}   "
        f"costtrail alerts --ledger {ledger}"
    )
