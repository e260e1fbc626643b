"""FOCUS 1.3 export checked column by column against the specification's column definitions.

The definitions below are written from FOCUS 1.3's Cost and Usage dataset (its column table:
type, nullability, data type) and each column's requirements, in this file's own words.
The 1.2 export is still validated by focus-validator (test_finance_focus_export.py).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_finance_focus_export import OCT, _world
from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.export.focus13 import COLUMNS_13, export_focus13, focus13_records
from costtrail.ledger.duckdb_store import DuckDBStore


@dataclass(frozen=True)
class Spec:
    nullable: bool
    data_type: str  # String | JSON | Decimal | Date/Time


# FOCUS 1.3 Cost and Usage: the columns 1.3 adds or redefines, as its column table defines them.
SPEC_13 = {
    "AllocatedMethodDetails": Spec(True, "JSON"),
    "AllocatedMethodId": Spec(True, "String"),
    "AllocatedResourceId": Spec(True, "String"),
    "AllocatedResourceName": Spec(True, "String"),
    "AllocatedTags": Spec(True, "JSON"),
    "HostProviderName": Spec(False, "String"),
    "ServiceProviderName": Spec(False, "String"),
    "SkuPriceDetails": Spec(True, "JSON"),
    "BilledCost": Spec(False, "Decimal"),
    "EffectiveCost": Spec(False, "Decimal"),
    "ListCost": Spec(False, "Decimal"),
    "ContractedCost": Spec(False, "Decimal"),
    "InvoiceIssuerName": Spec(False, "String"),
    "ChargeCategory": Spec(False, "String"),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """The 1.3 CSV as a reader gets it (every cell a string; '' is null)."""
    store = DuckDBStore(":memory:")
    _world(store)
    path = tmp_path_factory.mktemp("focus13") / "focus13.csv"
    assert export_focus13(store, OCT, path) == len(focus13_records(store, OCT))
    store.close()
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS_13
        return list(reader)


def _typed(column: str, cell: str) -> Any:
    kind = SPEC_13[column].data_type
    if kind == "JSON":
        value = json.loads(cell)
        assert isinstance(value, dict), f"{column}: a JSON object, got {cell!r}"
        return value
    if kind == "Decimal":
        return Decimal(cell)
    return cell


@pytest.mark.parametrize("column", sorted(SPEC_13))
def test_column_type_and_nullability(rows: list[dict[str, str]], column: str) -> None:
    spec = SPEC_13[column]
    cells = [r[column] for r in rows]
    if not spec.nullable:
        assert all(c != "" for c in cells), f"{column} allows no nulls"
    for c in cells:
        if c != "":
            _typed(column, c)


def test_allocation_columns_follow_the_split_cost_rules(rows: list[dict[str, str]]) -> None:
    allocation = [r for r in rows if r["x_CostSource"] in ("allocated", "unallocated")]
    others = [r for r in rows if r["x_CostSource"] not in ("allocated", "unallocated")]
    assert allocation and others
    for r in others:  # MUST be null when a charge is not related to a split cost allocation
        for c in ("AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedTags"):
            assert r[c] == "", (c, r["x_CostSource"])
    ratios: dict[tuple[str, str], float] = defaultdict(float)
    for r in allocation:
        assert r["AllocatedMethodId"]  # MUST NOT be null on a charge of a split cost allocation
        details = json.loads(r["AllocatedMethodDetails"])
        assert isinstance(details["Elements"], list) and details["Elements"]
        for element in details["Elements"]:
            assert isinstance(element["AllocatedRatio"], int | float) and 0 <= element["AllocatedRatio"] <= 1
            if "UsageQuantity" in element:  # UsageUnit must be present when UsageQuantity is
                assert isinstance(element["UsageQuantity"], int | float) and element["UsageUnit"]
            ratios[(r["AllocatedMethodId"], r["ChargePeriodStart"])] += element["AllocatedRatio"]
        assert all(k in ("Elements",) or k.startswith("x_") for k in details)  # custom keys are x_
        if r["x_CostSource"] == "unallocated":  # the unallocated portion has no allocated resource
            assert r["AllocatedResourceId"] == "" and r["AllocatedResourceName"] == ""
        else:
            assert r["AllocatedResourceId"] and r["AllocatedResourceName"]
            tags, allocated_tags = json.loads(r["Tags"] or "{}"), json.loads(r["AllocatedTags"])
            assert not set(allocated_tags) & set(tags)  # MUST NOT repeat tags already in Tags
    # the ratios of all allocated charges of one origin charge sum to 1
    assert ratios and all(abs(total - 1) < 1e-9 for total in ratios.values()), ratios


def test_provider_and_sku_price_details(rows: list[dict[str, str]]) -> None:
    telemetry = [r for r in rows if r["x_CostSource"] == "telemetry"]
    assert {r["ServiceProviderName"] for r in telemetry} >= {"openai", "anthropic"}
    for r in rows:
        if r["SkuPriceId"] == "":
            assert r["SkuPriceDetails"] == ""  # MUST be null when SkuPriceId is null
        elif r["SkuPriceDetails"]:
            details = json.loads(r["SkuPriceDetails"])
            assert all(k.startswith("x_") for k in details)  # not FOCUS-defined: x_ keys
    models = {json.loads(r["SkuPriceDetails"])["x_Model"] for r in telemetry if r["SkuPriceDetails"]}
    assert {"gpt-4o-2024-08-06", "claude-sonnet-4-20250514"} <= models


def test_cli_spec_option(tmp_path: Path) -> None:
    ledger = tmp_path / "l.duckdb"
    with DuckDBStore(ledger) as store:
        _world(store)
    out = tmp_path / "f13.parquet"
    args = ["export", "focus", "--period", "2026-10", "--spec", "1.3", "--format", "parquet", "-o", str(out)]
    done = CliRunner().invoke(app, [*args, "--ledger", str(ledger)])
    assert done.exit_code == 0, done.output
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert tuple(table.column_names) == COLUMNS_13
    assert "FOCUS 1.3 rows" in done.output
