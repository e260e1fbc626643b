"""Reading tabular billing files (CSV or Parquet) into rows of cells."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from costtrail.importers.parsing import ImportFormatError


def read_table(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and rows of a CSV (by default) or Parquet (``.parquet``) file."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise ImportFormatError(
                path.name, "(file)", "(all)", f"not a readable Parquet file: {exc}"
            ) from None
        return list(table.column_names), table.to_pylist()
    try:
        return _read_csv(path)
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            path.name, f"byte {exc.start}", "(file)", "not UTF-8 text: export the file as UTF-8 CSV"
        ) from None


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows: list[dict[str, Any]] = []
        for n, row in enumerate(reader, start=1):
            if None in row:
                raise ImportFormatError(
                    path.name,
                    n,
                    "(extra)",
                    f"has {len(header) + len(row[None])} cells, the header {len(header)}",
                )
            rows.append(row)
    return header, rows


def require_columns(path: Path, header: list[str], needed: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Pick, for each logical column, the first of its accepted names present in the header."""
    chosen: dict[str, str] = {}
    for logical, names in needed.items():
        found = next((n for n in names if n in header), None)
        if found is None:
            raise ImportFormatError(
                path.name, 0, " or ".join(names), "is missing from the header (a required column)"
            )
        chosen[logical] = found
    return chosen
