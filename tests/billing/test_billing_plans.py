"""Price plans: validated YAML whose errors name the file, the line and the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costtrail.billing import Charge, PlanError, PricePlans, price


def _charge(**kw: object) -> Charge:
    return Charge.model_validate({"name": "c", "metric": "output_tokens", **kw})


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    path.write_text(
        "plans:\n"
        "  - name: pro\n"
        "    charges:\n"
        "      - name: usage\n"
        "        metric: cost\n"
        "        markup_pct: 20\n"
        "      - name: out\n"
        "        metric: output_tokenz\n"
        "        unit_price: 1\n"
    )
    with pytest.raises(PlanError) as err:
        PricePlans.load(path)
    assert (
        f"{path}:8: plans[0] (name 'pro').charges[1] (name 'out').metric: unknown metric 'output_tokenz'"
        in str(err.value)
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "set exactly one of unit_price, markup_pct or tiers"),
        ({"unit_price": 1, "markup_pct": 5}, "set exactly one of"),
        ({"markup_pct": 20}, "markup_pct prices the ledger cost: it needs metric: cost"),
        ({"tiers": [{"up_to": 5, "unit_price": 1}]}, "the last tier has no up_to"),
        (
            {"tiers": [{"up_to": 5, "unit_price": 1}, {"up_to": 3, "unit_price": 1}, {"unit_price": 1}]},
            "increasing",
        ),
        ({"unit_price": 1, "where": {"colour": "red"}}, "unknown where field(s) ['colour']"),
        ({"unit_price": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_charges_say_the_fix(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        _charge(**fields)
    assert message in str(err.value)


def test_unknown_default_plan_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="default_plan 'gold' is not a plan"):
        PricePlans.from_yaml(
            "default_plan: gold\nplans: [{name: pro, charges: [{name: c, metric: runs, unit_price: 1}]}]"
        )
    with pytest.raises(PlanError, match="cannot read the plans file"):
        PricePlans.load(tmp_path / "absent.yaml")


def test_decimals_are_exact() -> None:
    plans = PricePlans.from_yaml("plans: [{name: p, charges: [{name: c, metric: calls, unit_price: 0.1}]}]")
    assert plans.plans[0].charges[0].unit_price == Decimal("0.1")


def test_graduated_and_volume_tiers() -> None:
    tiers = [
        {"up_to": 100, "unit_price": "1.00"},
        {"up_to": 1000, "unit_price": "0.50"},
        {"unit_price": "0.10"},
    ]
    graduated = _charge(tiers=tiers, included=10)
    # 1210 units, 10 included: 100 x $1 + 900 x $0.50 + 200 x $0.10 = 100 + 450 + 20
    assert price(graduated, Decimal(1210)).amount == Decimal("570.00")
    volume = _charge(tiers=tiers, tier_mode="volume", included=10)
    assert price(volume, Decimal(1210)).amount == Decimal("120.00")  # all 1200 at the top tier's $0.10
    assert price(volume, Decimal(1000)).amount == Decimal("495.00")  # 990 x $0.50


def test_amounts_round_half_up_once_per_line() -> None:
    c = _charge(unit_price="0.005")
    assert price(c, Decimal(1)).amount == Decimal("0.01")  # 0.005 rounds half up
    assert price(c, Decimal(3)).amount == Decimal("0.02")  # 0.015 -> 0.02, not 3 x 0.01
