"""Reading cells of billing files: exact decimals, UTC times, and errors that name row and column."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from costtrail.schema import CostLine

NULLS = frozenset({"", "NULL", "null", "None"})


class ImportFormatError(ValueError):
    """A billing file that cannot be read; the message names the file, the row and the column.

    ``row`` is the 1-based data row of a table (the header is row 0), or a JSON path
    such as ``data[2].results[0]`` for API exports.
    """

    def __init__(self, file: str, row: int | str, column: str, reason: str) -> None:
        self.file, self.row, self.column, self.reason = file, row, column, reason
        where = f"row {row}" if isinstance(row, int) else str(row)
        super().__init__(f"{file}: {where}, column {column}: {reason}")


class Cells:
    """Typed access to one input row, raising :class:`ImportFormatError` with its position."""

    def __init__(self, file: str, row: int | str, data: dict[str, Any]) -> None:
        self.file, self.row, self.data = file, row, data

    def error(self, column: str, reason: str) -> ImportFormatError:
        return ImportFormatError(self.file, self.row, column, reason)

    def cost_line(self, **fields: Any) -> CostLine:
        """The row's cost line; a value the line refuses (e.g. out of the ledger's range) names its field."""
        try:
            return CostLine(**fields)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "(row)"
            raise self.error(field, str(first.get("msg", "invalid")).removeprefix("Value error, ")) from None

    def _missing(self, column: str) -> bool:
        value = self.data.get(column)
        return value is None or (isinstance(value, str) and value.strip() in NULLS)

    def text(self, column: str) -> str | None:
        """The cell as stripped text, or None when empty or NULL."""
        return None if self._missing(column) else str(self.data[column]).strip()

    def required_text(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            raise self.error(column, "is empty: a value is required")
        return value

    def decimal(self, column: str) -> Decimal | None:
        """The cell as an exact Decimal, or None when empty or NULL."""
        if self._missing(column):
            return None
        value = self.data[column]
        if isinstance(value, float):
            value = repr(value)  # a Parquet double: keep the shortest digits that round-trip
        try:
            amount = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise self.error(column, f"{value!r} is not a number") from None
        if not amount.is_finite():
            raise self.error(column, f"{value!r} is not a finite number")
        return amount

    def amount(self, column: str) -> Decimal:
        value = self.decimal(column)
        if value is None:
            raise self.error(column, "is empty: an amount is required")
        return value

    def time(self, column: str) -> datetime:
        if self._missing(column):
            raise self.error(column, "is empty: a timestamp is required")
        return cell_time(self.data[column], self, column)

    def json_map(self, column: str) -> dict[str, str]:
        value = self.data.get(column)
        if value is None or (isinstance(value, str) and value.strip() in NULLS):
            return {}
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):  # Parquet MAP columns arrive as [(key, value), ...]
            return {str(k): str(v) for k, v in value if v is not None}
        try:
            parsed = json.loads(str(value))
        except json.JSONDecodeError as exc:
            raise self.error(column, f"is not a JSON object ({exc.msg})") from None
        if not isinstance(parsed, dict):
            raise self.error(column, "must be a JSON object of tag names to values")
        return {str(k): str(v) for k, v in parsed.items() if v is not None}


def cell_time(value: Any, cells: Cells, column: str) -> datetime:
    """An ISO 8601 string, a ``YYYY-MM-DD HH:MM:SS`` string, epoch seconds, or a datetime: as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(float(value), tz=UTC)
        except (ValueError, OverflowError, OSError):  # NaN, or past year 9999 / the platform's range
            raise cells.error(
                column, f"{value!r} is not a timestamp in range (epoch seconds between 0001 and 9999)"
            ) from None
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise cells.error(column, f"{value!r} is not a timestamp (use ISO 8601, UTC)") from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is past year 9999 in UTC
        raise cells.error(column, f"{value!r} is out of range in UTC (years 0001 to 9999)") from None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            path.name, f"byte {exc.start}", "(file)", "not UTF-8 text: export the file as UTF-8 JSON"
        ) from None


def load_json(path: Path) -> Any:
    """A JSON document with every number read as an exact Decimal (never a float)."""
    try:
        return json.loads(_text(path), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            path.name, f"line {exc.lineno}", f"character {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None


def api_pages(path: Path) -> list[Any]:
    """The pages of a paginated API export: one page object, a JSON array of pages, or NDJSON pages."""
    text = _text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        doc = load_json(path)
        return list(doc)
    try:
        return [json.loads(text, parse_float=Decimal)]
    except json.JSONDecodeError:
        pages = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    pages.append(json.loads(line, parse_float=Decimal))
                except json.JSONDecodeError as exc:
                    raise ImportFormatError(
                        path.name, f"line {lineno}", f"character {exc.colno}", f"not valid JSON: {exc.msg}"
                    ) from None
        return pages


def buckets(path: Path, pages: list[Any]) -> list[tuple[str, dict[str, Any], list[Any]]]:
    """``(json_path, bucket, results)`` for every time bucket in the pages of an API export."""
    out: list[tuple[str, dict[str, Any], list[Any]]] = []
    for p, page in enumerate(pages):
        prefix = f"page {p} " if len(pages) > 1 else ""
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise ImportFormatError(
                path.name, f"{prefix}(page)", "data", "expected an object with a data list"
            )
        for b, bucket in enumerate(page["data"]):
            where = f"{prefix}data[{b}]"
            if not isinstance(bucket, dict):
                raise ImportFormatError(path.name, where, "(bucket)", "expected a bucket object")
            results = bucket.get("results")
            if not isinstance(results, list):
                raise ImportFormatError(path.name, where, "results", "expected a list of results")
            for r, result in enumerate(results):
                if not isinstance(result, dict):
                    raise ImportFormatError(
                        path.name, f"{where}.results[{r}]", "(result)", "expected a result object"
                    )
            out.append((where, bucket, results))
    return out
