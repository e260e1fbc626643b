"""Importers: realistic files, exact amounts, errors naming row and column, idempotent re-import."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from costtrail.importers import ImportFormatError, MappingError, import_file
from costtrail.ledger.duckdb_store import DuckDBStore

DATA = Path(__file__).parent / "data"


def _lines(store: DuckDBStore, where: str = "TRUE") -> list[dict[str, object]]:
    return store.query(f"SELECT * FROM cost_lines WHERE {where} ORDER BY charge_period_start, line_id")


def test_focus_official_sample_imports_every_row_and_reimport_changes_nothing(store: DuckDBStore) -> None:
    first = import_file("focus", DATA / "focus_sample.csv", store)
    assert (first.rows, first.accepted, first.duplicates) == (1000, 1000, 0)
    total = store.query("SELECT sum(billed_cost) AS s, count(*) AS n FROM cost_lines")[0]
    assert total["n"] == 1000
    assert total["s"] == Decimal("20.52022672899")
    ai = store.query(
        "SELECT count(*) AS n FROM cost_lines WHERE service_category = 'AI and Machine Learning'"
    )
    assert ai[0]["n"] == 9
    providers = store.query("SELECT provider, count(*) AS n FROM cost_lines GROUP BY 1 ORDER BY 1")
    assert providers == [
        {"provider": "aws", "n": 942},
        {"provider": "microsoft", "n": 51},
        {"provider": "oracle", "n": 7},
    ]
    again = import_file("focus", DATA / "focus_sample.csv", store)
    assert (again.accepted, again.duplicates) == (0, 1000)
    assert store.query("SELECT count(*) AS n FROM cost_lines")[0]["n"] == 1000


def test_focus_parquet_and_13_provider_column(tmp_path: Path, store: DuckDBStore) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "BilledCost": [1.25, 2.5],
            "EffectiveCost": [1.0, 2.0],
            "BillingCurrency": ["USD", "USD"],
            "ChargePeriodStart": ["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"],
            "ChargePeriodEnd": ["2026-10-02T00:00:00Z", "2026-10-03T00:00:00Z"],
            "ServiceProviderName": ["Microsoft", "Microsoft"],
            "ServiceCategory": ["AI and Machine Learning"] * 2,
            "x_Model": ["gpt-4o", "gpt-4o"],
            "SubAccountId": ["sub-1", "sub-1"],
        }
    )
    path = tmp_path / "focus13.parquet"
    pq.write_table(table, path)
    result = import_file("focus", path, store)
    assert result.accepted == 2
    rows = _lines(store)
    assert [r["billed_cost"] for r in rows] == [Decimal("1.25"), Decimal("2.5")]
    assert {r["provider"] for r in rows} == {"microsoft"}
    assert {r["model"] for r in rows} == {"gpt-4o"}


def test_focus_malformed_rows_name_row_and_column(tmp_path: Path, store: DuckDBStore) -> None:
    text = (DATA / "focus_sample.csv").read_text().splitlines()
    header = text[0].split(",")
    cells = text[3].split(",")
    billed = header.index('"BilledCost"')
    cells[billed] = "12,x"  # splits into two cells: too many
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([text[0], text[1], text[2], ",".join(cells)]) + "\n")
    with pytest.raises(ImportFormatError, match=r"bad.csv: row 3, column \(extra\)"):
        import_file("focus", bad, store)
    cells = text[3].split(",")
    cells[billed] = "twelve"
    bad.write_text("\n".join([text[0], text[1], ",".join(cells)]) + "\n")
    with pytest.raises(ImportFormatError, match=r"row 2, column BilledCost: 'twelve' is not a number"):
        import_file("focus", bad, store)
    start = header.index('"ChargePeriodStart"')
    cells = text[1].split(",")
    cells[start] = '"yesterday"'
    bad.write_text("\n".join([text[0], ",".join(cells)]) + "\n")
    with pytest.raises(
        ImportFormatError, match=r"row 1, column ChargePeriodStart: 'yesterday' is not a timestamp"
    ):
        import_file("focus", bad, store)
    bad.write_text("BilledCost,ChargePeriodStart\n1,2026-10-01\n")
    with pytest.raises(ImportFormatError, match=r"row 0, column ChargePeriodEnd: is missing from the header"):
        import_file("focus", bad, store)
    assert _lines(store) == []


def test_openai_costs_exact_dollars_model_sku_and_batch(store: DuckDBStore) -> None:
    result = import_file("openai-costs", DATA / "openai_costs.json", store)
    assert (result.rows, result.accepted) == (5, 5)
    assert result.billed_cost == Decimal("5.3287")
    rows = _lines(store)
    first = rows[0]
    assert first["model"] == "gpt-4o-2024-08-06" and first["provider"] == "openai"
    assert first["provider_account"] == "proj_support"
    assert sorted(r["sku"] for r in rows[:3]) == ["cache_read", "input", "output"]
    batch = [r for r in rows if r["model"] == "gpt-4o-mini-2024-07-18"]
    assert all(json.loads(r["tags"])["service_tier"] == "batch" for r in batch)
    assert str(first["charge_period_start"]) == "2026-10-01 00:00:00"
    assert import_file("openai-costs", DATA / "openai_costs.json", store).accepted == 0


def test_openai_usage_lines_carry_tokens_not_money(store: DuckDBStore) -> None:
    result = import_file("openai-usage", DATA / "openai_usage.json", store)
    assert result.billed_cost == 0
    rows = {r["sku"]: r for r in _lines(store)}
    assert rows["input_tokens"]["consumed_quantity"] == Decimal(495000)
    assert rows["cache_read_tokens"]["consumed_quantity"] == Decimal(32960)
    assert rows["requests"]["consumed_quantity"] == Decimal(410)
    assert "input_audio_tokens" not in rows
    assert {r["kind"] for r in rows.values()} == {"usage"}


def test_openai_malformed_amount_names_json_path(tmp_path: Path, store: DuckDBStore) -> None:
    doc = json.loads((DATA / "openai_costs.json").read_text())
    doc["data"][1]["results"][0]["amount"]["value"] = "n/a"
    bad = tmp_path / "costs.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ImportFormatError, match=r"costs.json: data\[1\].results\[0\], column value: 'n/a'"):
        import_file("openai-costs", bad, store)
    doc["data"][1]["results"][0]["amount"] = 3
    bad.write_text(json.dumps(doc))
    with pytest.raises(ImportFormatError, match=r"data\[1\].results\[0\], column amount"):
        import_file("openai-costs", bad, store)


def test_anthropic_cost_report_amounts_are_cents(store: DuckDBStore) -> None:
    result = import_file("anthropic-costs", DATA / "anthropic_costs.json", store)
    assert result.accepted == 4
    assert result.billed_cost == Decimal("38.470678")  # (1234.5678 + 2500 + 12.5 + 100) cents
    rows = {r["charge_description"]: r for r in _lines(store)}
    sonnet_in = rows["Claude Sonnet 4 Usage - Input Tokens"]
    assert sonnet_in["billed_cost"] == Decimal("12.345678")
    assert sonnet_in["sku"] == "input" and sonnet_in["provider_account"] == "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
    cache = rows["Claude Haiku 3.5 Usage - Cache Read"]
    assert cache["sku"] == "cache_read" and cache["provider_account"] is None
    assert json.loads(cache["tags"])["service_tier"] == "batch"
    assert rows["Web Search"]["sku"] == "web_search"
    assert import_file("anthropic-costs", DATA / "anthropic_costs.json", store).duplicates == 4


def test_anthropic_usage_report_token_types(store: DuckDBStore) -> None:
    import_file("anthropic-usage", DATA / "anthropic_usage.json", store)
    rows = {r["sku"]: r["consumed_quantity"] for r in _lines(store)}
    assert rows == {
        "input": Decimal(411522),
        "output": Decimal(166666),
        "cache_read": Decimal(200000),
        "cache_write": Decimal(5000),
        "web_search_requests": Decimal(10),
    }


def test_anthropic_bad_amount_names_path(tmp_path: Path, store: DuckDBStore) -> None:
    doc = json.loads((DATA / "anthropic_costs.json").read_text())
    doc["data"][0]["results"][2]["amount"] = ""
    bad = tmp_path / "cost_report.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ImportFormatError, match=r"data\[0\].results\[2\], column amount: is empty"):
        import_file("anthropic-costs", bad, store)


def test_aws_cur_bedrock_rows_only(store: DuckDBStore) -> None:
    result = import_file("aws-cur", DATA / "aws_cur_bedrock.csv", store)
    assert (result.rows, result.accepted, result.skipped) == (4, 3, 1)
    assert result.billed_cost == Decimal("0.0195")
    rows = {r["sku"]: r for r in _lines(store)}
    assert rows["input"]["model"] == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert rows["cache_read"]["model"] == "Claude3.7Sonnet"
    assert rows["input"]["provider_account"] == "111122223333"
    assert json.loads(rows["output"]["tags"])["user_team"] == "support"
    assert import_file("aws-cur", DATA / "aws_cur_bedrock.csv", store).accepted == 0


def test_aws_cur_bad_cost_names_row(tmp_path: Path, store: DuckDBStore) -> None:
    text = (DATA / "aws_cur_bedrock.csv").read_text().replace(",0.012,0.012,0.012,", ",0.0x2,0.012,0.012,")
    bad = tmp_path / "cur.csv"
    bad.write_text(text)
    with pytest.raises(ImportFormatError, match=r"row 2, column line_item_unblended_cost: '0.0x2'"):
        import_file("aws-cur", bad, store)


def test_generic_csv_with_mapping(store: DuckDBStore) -> None:
    result = import_file("csv", DATA / "vectordb_invoice.csv", store, mapping=DATA / "vectordb_mapping.yaml")
    assert (result.accepted, result.billed_cost) == (2, Decimal("1840.00"))
    rows = {r["resource_id"]: r for r in _lines(store)}
    assert rows["support-kb"]["kind"] == "shared"
    assert rows["support-kb"]["consumed_quantity"] == Decimal(1200000)
    assert json.loads(rows["search-idx"]["tags"]) == {"team": "search", "invoice": "INV-1001"}
    again = import_file("csv", DATA / "vectordb_invoice.csv", store, mapping=DATA / "vectordb_mapping.yaml")
    assert again.duplicates == 2


def test_generic_csv_errors_name_mapping_field_and_csv_column(tmp_path: Path, store: DuckDBStore) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("source: x\ncolumns: {billed_cost: Amount, charge_period_start: S}\n")
    with pytest.raises(MappingError, match=r"m.yaml: field columns: map charge_period_end"):
        import_file("csv", DATA / "vectordb_invoice.csv", store, mapping=mapping)
    mapping.write_text(
        "source: x\ncolumns: {billed_cost: A, charge_period_start: S, charge_period_end: E, amount: A}\n"
    )
    with pytest.raises(MappingError, match=r"unknown cost-line field amount"):
        import_file("csv", DATA / "vectordb_invoice.csv", store, mapping=mapping)
    invoice = tmp_path / "inv.csv"
    shutil.copy(DATA / "vectordb_invoice.csv", invoice)
    invoice.write_text(invoice.read_text().replace("599.50", "USD 599.50"))
    with pytest.raises(ImportFormatError, match=r"inv.csv: row 2, column Amount \(USD\): 'USD 599.50'"):
        import_file("csv", invoice, store, mapping=DATA / "vectordb_mapping.yaml")
    with pytest.raises(MappingError, match="needs a column mapping file"):
        import_file("csv", invoice, store)


def test_identical_charges_in_one_file_are_both_kept(tmp_path: Path, store: DuckDBStore) -> None:
    lines = (DATA / "vectordb_invoice.csv").read_text().splitlines()
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    mapping = DATA / "vectordb_mapping.yaml"
    assert import_file("csv", twice, store, mapping=mapping).accepted == 2
    assert import_file("csv", twice, store, mapping=mapping).accepted == 0
    assert store.query("SELECT sum(billed_cost) AS s FROM cost_lines")[0]["s"] == Decimal("2481.00")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("253402300800.0"), "not a timestamp in range"),  # epoch seconds past 9999-12-31
        (Decimal("NaN"), "not a timestamp in range"),
        (-1e20, "not a timestamp in range"),
        ("9999-12-31T23:00:00-05:00", "out of range in UTC"),
        ("yesterday", "is not a timestamp"),
    ],
)
def test_out_of_range_times_name_their_column(value: object, reason: str) -> None:
    """A time no datetime can hold is an ImportFormatError naming the cell, never a bare ValueError."""
    from costtrail.importers.parsing import Cells

    cells = Cells("costs.json", "data[0]", {"starting_at": value})
    with pytest.raises(ImportFormatError, match="costs.json: data\\[0\\], column starting_at: .*" + reason):
        cells.time("starting_at")
