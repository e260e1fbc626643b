"""Property tests: hostile records and billing files get an error that names the field, never a crash.

The schema models (Event, Outcome, CostLine) see arbitrary JSON objects built
from their own field names, aliases and junk; the billing importers see the
real sample exports with cells replaced by arbitrary text or JSON values.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from costtrail.importers import ImportFormatError
from costtrail.importers.anthropic_api import read_anthropic_costs, read_anthropic_usage
from costtrail.importers.aws_cur import read_aws_cur
from costtrail.importers.focus import read_focus
from costtrail.importers.openai_api import read_openai_costs, read_openai_usage
from costtrail.schema import CostLine, Event, Outcome, validate_many
from costtrail.schema.events import EVENT_ALIASES

DATA = Path(__file__).resolve().parents[1] / "finance" / "data"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        ["", "NaN", "-1", "1e309", "2026-02-30", "2026-03-01T00:00:00Z", "1790812800", "llm", "true", "０"]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
)


def _records(model: type[BaseModel], aliases: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(sorted(model.model_fields) + list(aliases)) | st.text(max_size=12)
    return st.dictionaries(names, json_values, max_size=12)


def _named_problems(model: type[BaseModel], record: Any) -> None:
    good, problems = validate_many(model, [record])  # must not raise
    assert len(good) + (1 if problems else 0) == 1
    # A problem names a field of the model, a field the caller sent (e.g. an unknown one), or the record.
    sent = {str(k) for k in record} if isinstance(record, dict) else set()
    fields = set(model.model_fields) | sent | {"(record)"}
    for p in problems:
        assert p.index == 0
        assert p.reason.strip()
        assert p.field in fields or p.field.split(".")[0] in fields, (
            f"problem names no field of {model.__name__}: {p}"
        )


@FUZZ
@given(_records(Event, tuple(EVENT_ALIASES)))
def test_event_parsing_names_the_field(record: dict[str, Any]) -> None:
    _named_problems(Event, record)


@FUZZ
@given(_records(Outcome))
def test_outcome_parsing_names_the_field(record: dict[str, Any]) -> None:
    _named_problems(Outcome, record)


@FUZZ
@given(_records(CostLine))
def test_cost_line_parsing_names_the_field(record: dict[str, Any]) -> None:
    _named_problems(CostLine, record)


@FUZZ
@given(json_values)
def test_any_json_value_as_a_record(value: Any) -> None:
    for model in (Event, Outcome, CostLine):
        _named_problems(model, value)


def _mutated_csv(original: Path, edits: list[tuple[int, int, str]]) -> str:
    rows = list(csv.reader(io.StringIO(original.read_text())))
    for r, c, value in edits:
        row = rows[1 + r % (len(rows) - 1)]
        row[c % len(row)] = value
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _import_raises_only_format_errors(reader: Any, name: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        try:
            reader(path)
        except ImportFormatError as exc:
            assert exc.column and exc.reason and name in str(exc)


cell_edits = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.one_of(st.text(max_size=20), scalars.map(str))),
    min_size=1,
    max_size=6,
)


@FUZZ
@given(cell_edits)
def test_focus_import_with_hostile_cells(edits: list[tuple[int, int, str]]) -> None:
    text = _mutated_csv(DATA / "focus_sample.csv", edits)
    _import_raises_only_format_errors(read_focus, "focus.csv", text)


@FUZZ
@given(cell_edits)
def test_aws_cur_import_with_hostile_cells(edits: list[tuple[int, int, str]]) -> None:
    text = _mutated_csv(DATA / "aws_cur_bedrock.csv", edits)
    _import_raises_only_format_errors(read_aws_cur, "cur.csv", text)


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))] + [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))] + [prefix]
    return [prefix]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


API_EXPORTS = [
    ("openai_costs.json", read_openai_costs),
    ("openai_usage.json", read_openai_usage),
    ("anthropic_costs.json", read_anthropic_costs),
    ("anthropic_usage.json", read_anthropic_usage),
]


@FUZZ
@given(st.sampled_from(API_EXPORTS), st.lists(st.tuples(st.integers(0, 10_000), json_values), max_size=4))
def test_api_export_import_with_hostile_values(export: tuple[str, Any], edits: list[tuple[int, Any]]) -> None:
    name, reader = export
    data = json.loads((DATA / name).read_text())
    for where, new in edits:
        paths = _leaf_paths(data)
        data = _replace(data, paths[where % len(paths)], new)
    _import_raises_only_format_errors(reader, name, json.dumps(data))


@FUZZ
@given(st.binary(max_size=200))
def test_api_export_import_with_garbage_bytes(raw: bytes) -> None:
    for name, reader in API_EXPORTS:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(raw)
            try:
                reader(path)
            except ImportFormatError as exc:
                assert exc.column and name in str(exc)


@FUZZ
@given(st.binary(max_size=200))
def test_billing_csv_import_with_garbage_bytes(raw: bytes) -> None:
    header = (DATA / "focus_sample.csv").read_bytes().splitlines()[0]
    for name, reader in (("focus.csv", read_focus), ("cur.csv", read_aws_cur)):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(header + b"\n" + raw)
            try:
                reader(path)
            except ImportFormatError as exc:
                assert exc.column and name in str(exc)
