from __future__ import annotations

from decimal import Decimal

from costtrail.cli.output import fmt_cell


def test_money_columns_show_dollars_and_ratios_do_not() -> None:
    assert fmt_cell(Decimal("1177.891"), "cost_to_serve") == "$1,177.89"
    assert fmt_cell(Decimal("-459.6918"), "margin_pct") == "-459.7%"  # a percent reads with its sign
    assert fmt_cell(Decimal("0.9"), "ratio") == "0.9000"
    assert fmt_cell(None, "margin_pct") == "-"
