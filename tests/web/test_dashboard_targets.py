"""Cost per outcome against its target: the targets file, `costtrail serve --targets`, the page, the demo."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tests.web.dashboard_harness import Served, cell_values, login, screenshot, wait_for_charts
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.demo.targets_demo import demo_targets, demo_targets_yaml
from costtrail.finance.period import Period
from costtrail.finance.targets import TargetsError, UnitTargets
from costtrail.finance.unit_economics import cost_per_outcome
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings
from costtrail.web.filters import Filters
from costtrail.web.pages.context import PageContext, latest_event, period_of


def test_targets_file_is_the_unit_cost_units_file() -> None:
    targets = UnitTargets.from_yaml(
        'units:\n  ticket_resolved:\n    target_usd: "0.40"\n  fields_extracted:\n'
        "    target_usd: 0.1\n    drift_factor: 1.5\n"
    )
    resolved = targets.get("ticket_resolved")
    assert resolved is not None and resolved.target_usd == Decimal("0.40")
    assert resolved.drift_factor == Decimal("1.25")
    extracted = targets.get("fields_extracted")
    # a YAML float is read through its text: exactly 0.1, not the binary double
    assert extracted is not None and extracted.target_usd == Decimal("0.1")
    assert extracted.drift_factor == Decimal("1.5")
    assert targets.names() == ["fields_extracted", "ticket_resolved"] and targets.get("other") is None
    assert UnitTargets.from_yaml("").units == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('units:\n  a:\n    target_usd: "0.40"\n  b:\n    target: 0.3\n',
         "t.yaml:5: units.b.target: unknown field (an outcome takes target_usd and drift_factor)"),
        ("units:\n  a:\n    target_usd: -1\n", "t.yaml:3: units.a.target_usd: target_usd must be above 0"),
        ("units:\n  a:\n    target_usd: lots\n", "t.yaml:3: units.a.target_usd: target_usd must be a number"),
        ("units:\n  a: {target_usd: 1, drift_factor: 0.5}\n",
         "t.yaml:2: units.a.drift_factor: drift_factor must be 1 or more"),
        ("units:\n  a: 0.4\n", "t.yaml:2: units.a: expected a mapping, e.g. ticket_resolved: {target_usd:"),
        ("units:\n  a:\n    drift_factor: 2\n", "units.a.target_usd: missing: give the USD per successful"),
        ("targets:\n  a: {}\n", "t.yaml:2: targets: unknown field (the file has one key, units:"),
        ("- a\n", "t.yaml: a targets file is a YAML mapping with one key, units:"),
        ("units: [\n", "t.yaml: not valid YAML"),
    ],
)  # fmt: skip
def test_a_bad_targets_file_names_the_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(TargetsError) as raised:
        UnitTargets.from_yaml(text, source="t.yaml")
    assert expected in str(raised.value)


def test_serve_refuses_a_bad_targets_file_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "units.yaml"
    bad.write_text('units:\n  ticket_resolved:\n    target_usd: "0.40"\n    drift: 2\n')
    ledger = tmp_path / "never-opened.duckdb"
    result = CliRunner().invoke(app, ["serve", "--ledger", str(ledger), "--port", "0", "--targets", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: units.ticket_resolved.drift: unknown field" in result.output
    assert not ledger.exists()
    absent = str(tmp_path / "no.yaml")
    missing = CliRunner().invoke(app, ["serve", "--ledger", str(ledger), "--targets", absent])
    assert missing.exit_code == 2 and "cannot read the targets file" in missing.output


def test_settings_take_targets_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"COSTTRAIL_TARGETS": str(tmp_path / "units.yaml")})
    assert settings.targets == tmp_path / "units.yaml"


def test_demo_targets_put_the_busiest_outcome_over_target(web_store: DuckDBStore) -> None:
    period = Period.parse("2026-10-01..2026-11-20")
    text = demo_targets_yaml(web_store, period)
    parsed = UnitTargets.from_yaml(text)  # the file the demo writes is a valid targets file
    assert parsed.names() == ["completed"] == list(demo_targets(web_store, period))
    target = parsed.get("completed")
    actual = cost_per_outcome(web_store, "completed", period).cost_per_outcome
    assert target is not None and actual is not None and target.target_usd < actual


@pytest.mark.browser
def test_customers_page_shows_outcome_cost_against_target(page, served: Served, web_targets: Path) -> None:
    login(page, served, served.keys.read, "/customers")
    charts = wait_for_charts(page)
    targets = UnitTargets.load(web_targets)
    window = Filters.from_query({}, latest=latest_event(served.store, None))
    period = period_of(PageContext(served.store, Settings(), window, None, {}))  # type: ignore[arg-type]
    outcomes = cell_values(page, "outcomes", "outcome")
    assert set(targets.names()) <= set(outcomes)
    shown = {
        column: dict(zip(outcomes, cell_values(page, "outcomes", column), strict=True))
        for column in ("cost_per_outcome", "target", "status", "vs_target")
    }
    goal = targets.get("completed")
    assert goal is not None
    expected = cost_per_outcome(
        served.store, "completed", period, target=goal.target_usd, drift_factor=goal.drift_factor
    )
    # the number shown is the finance API's, to the last digit; the target is the file's
    assert expected.cost_per_outcome is not None
    assert Decimal(shown["cost_per_outcome"]["completed"]) == expected.cost_per_outcome
    assert Decimal(shown["target"]["completed"]) == goal.target_usd == expected.target
    assert shown["status"]["completed"] == "over target"
    over = (expected.cost_per_outcome - goal.target_usd) / goal.target_usd
    assert Decimal(shown["vs_target"]["completed"]) == over.quantize(Decimal("0.0001")) > 0
    assert shown["status"]["abandoned"] == "no successful outcomes"
    highlighted = page.eval_on_selector_all(
        "#table-outcomes tbody tr.highlight td[data-col=outcome]", "cells => cells.map(c => c.dataset.value)"
    )
    assert highlighted == ["completed"]
    shown_text = page.inner_text("#table-outcomes tbody tr.highlight td[data-col=cost_per_outcome]")
    # a unit cost under $1 is shown to four significant digits, so actual and target stay distinguishable
    assert shown_text == f"${expected.cost_per_outcome:.4g}"
    # actual vs target, drawn for the outcomes that have a target
    assert charts["outcome-vs-target"]["drawn"] == 2
    page.locator("#table-outcomes").scroll_into_view_if_needed()
    screenshot(page, "customers-targets")
