"""Any invoice as CSV, read through a column-mapping file (vector DB, observability vendor, SaaS).

Mapping file (YAML)::

    source: pinecone-invoice          # names the lines' source
    provider: pinecone
    service_name: Pinecone
    service_category: Databases       # a FOCUS ServiceCategory
    kind: shared                      # billed (default) or shared (to be allocated)
    columns:                          # cost-line field -> CSV column
      charge_period_start: Period Start
      charge_period_end: Period End
      billed_cost: Amount (USD)
      resource_id: Index
      consumed_quantity: Read Units
    tags:                             # tag name -> CSV column
      team: Team
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from costtrail.importers.parsing import Cells, ImportFormatError
from costtrail.importers.result import ImportResult, store_lines
from costtrail.importers.tables import read_table
from costtrail.ledger.store import LedgerStore
from costtrail.schema import CostLine, CostLineKind

TEXT_FIELDS = (
    "currency",
    "provider",
    "service_name",
    "service_category",
    "resource_id",
    "resource_name",
    "sku",
    "model",
    "provider_account",
    "pricing_unit",
    "consumed_unit",
    "charge_description",
    "charge_category",
)
MONEY_FIELDS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")
QTY_FIELDS = ("pricing_quantity", "consumed_quantity")
TIME_FIELDS = ("charge_period_start", "charge_period_end")
MAPPABLE = frozenset((*TEXT_FIELDS, *MONEY_FIELDS, *QTY_FIELDS, *TIME_FIELDS))


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the field."""


class ColumnMapping(BaseModel):
    """How the columns of one vendor's CSV become cost lines."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200)
    kind: CostLineKind = CostLineKind.BILLED
    provider: str | None = None
    service_name: str | None = None
    service_category: str | None = None
    currency: str = "USD"
    columns: dict[str, str]
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - MAPPABLE)
        if unknown:
            raise ValueError(
                f"unknown cost-line field {', '.join(unknown)}: map any of {', '.join(sorted(MAPPABLE))}"
            )
        missing = [f for f in ("charge_period_start", "charge_period_end", "billed_cost") if f not in value]
        if missing:
            raise ValueError(f"map {', '.join(missing)} to a CSV column (required)")
        return value

    @field_validator("kind")
    @classmethod
    def _importable(cls, value: CostLineKind) -> CostLineKind:
        if value not in (CostLineKind.BILLED, CostLineKind.SHARED):
            raise ValueError("kind must be billed or shared")
        return value

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise MappingError(f"{path.name}: not valid YAML: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(file)"
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise MappingError(f"{path.name}: field {loc}: {msg}") from None


def _line(cells: Cells, mapping: ColumnMapping) -> CostLine:
    cols = mapping.columns
    values: dict[str, Any] = {
        "kind": mapping.kind,
        "source": mapping.source,
        "provider": mapping.provider,
        "service_name": mapping.service_name,
        "service_category": mapping.service_category,
        "currency": mapping.currency,
    }
    for name in TEXT_FIELDS:
        if name in cols and (value := cells.text(cols[name])) is not None:
            values[name] = value
    for name in (*MONEY_FIELDS, *QTY_FIELDS):
        if name in cols:
            values[name] = cells.decimal(cols[name])
    values["billed_cost"] = cells.amount(cols["billed_cost"])
    for name in TIME_FIELDS:
        values[name] = cells.time(cols[name])
    values["tags"] = {tag: v for tag, column in mapping.tags.items() if (v := cells.text(column))}
    try:
        return CostLine(**values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "(row)"
        raise cells.error(cols.get(field, field), str(first["msg"]).removeprefix("Value error, ")) from None


def read_generic_csv(path: Path, mapping: ColumnMapping) -> tuple[list[CostLine], int]:
    header, rows = read_table(path)
    for field, column in mapping.columns.items():
        if column not in header:
            raise ImportFormatError(path.name, 0, column, f"is missing from the header (mapped to {field})")
    for tag, column in mapping.tags.items():
        if column not in header:
            raise ImportFormatError(path.name, 0, column, f"is missing from the header (mapped to tag {tag})")
    return [_line(Cells(path.name, n, row), mapping) for n, row in enumerate(rows, start=1)], len(rows)


def import_generic_csv(path: Path, mapping_file: Path, store: LedgerStore) -> ImportResult:
    """Import an invoice CSV through a mapping file."""
    mapping = ColumnMapping.load(mapping_file)
    lines, rows = read_generic_csv(path, mapping)
    return store_lines(store, lines, kind="csv", file=path.name, rows=rows)
