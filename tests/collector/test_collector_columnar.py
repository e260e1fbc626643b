"""The column-at-a-time batch path gives exactly what validating each record as an Event gives.

The reference is the plain path: ``validate_many(Event, records)`` and a per-event, per-field
copy into Arrow (the conversion the ledger used before the columnar one). Hypothesis feeds both
messy batches: aliases, unknown fields, wrong types, bad times, money out of range, odd ids.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from bench.bench_collector import per_event_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costtrail.ledger.columnar import event_batch, events_to_arrow
from costtrail.ledger.columns import EVENT_SCHEMA
from costtrail.schema import Event, validate_many


def reference_table(events: list[Event]) -> pa.Table:
    """One event at a time, one field at a time (the per-record path the bench measures): slow,
    obviously right."""
    return per_event_table(events)


def assert_same_as_model_path(records: list[Any]) -> None:
    events, problems = validate_many(Event, records)
    batch = event_batch(records)
    assert batch.problems == problems
    expected = reference_table(events)
    assert batch.table.schema.equals(EVENT_SCHEMA)
    assert batch.table.to_pylist() == expected.to_pylist()
    assert events_to_arrow(events).to_pylist() == expected.to_pylist()


IDS = st.one_of(
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: u.hex.upper()),
    st.uuids().map(str),
    st.sampled_from(["evt-1", "evt-2", "", "x" * 129, "0" * 32, "g" * 32, "00 11 22 33 44 55 66 77 8"]),
)
TIMES = st.one_of(
    st.sampled_from(
        [
            "2026-05-01T12:00:00Z",
            "2026-05-01T12:00:00+00:00",
            "2026-05-01T14:30:00.123456+02:30",
            "2026-05-01 12:00:00",
            "2026-05-01T12:00:00",
            "2026-02-30T00:00:00Z",
            "yesterday",
            1777636800,
            1777636800.5,
            None,
        ]
    ),
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.sampled_from([None, UTC])
    ).map(lambda d: d.isoformat()),
)
COUNTS = st.one_of(st.integers(0, 10**6), st.sampled_from([-1, "12", "lots", 1.0, 1.5, True, None]))
MONEY = st.one_of(
    st.sampled_from(["0.000123", "1e-3", "-1", "NaN", "1000000", "0.0000000000005", 0.1, 3, None, "abc"]),
    st.decimals(min_value=0, max_value=100, places=14).map(str),
)
TEXT = st.one_of(st.text(max_size=8), st.sampled_from(["x" * 513, None, 5]))
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["llm", "embedding", "tool", "infra", "bogus", None]),
    "status": st.sampled_from(["success", "error", "timeout", "nope"]),
    "provider": st.sampled_from(["openai", "anthropic"]),
    "model": st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5", "", "unknown-model", None]),
    "ended_at": TIMES,
    "latency_ms": st.one_of(st.floats(allow_nan=True), st.none(), st.just("12")),
    "input_tokens": COUNTS,
    "prompt_tokens": COUNTS,
    "completion_tokens": COUNTS,
    "cache_read_tokens": COUNTS,
    "retry_count": COUNTS,
    "schema_version": st.sampled_from([1, 2, "1", None]),
    "workflow_type": TEXT,
    "workflow": TEXT,
    "customer_id": TEXT,
    "tenant_id": TEXT,
    "cost_usd": MONEY,
    "estimated_cost_usd": MONEY,
    "cost_source": st.sampled_from(["computed", "reported", "guess", None]),
    "compute_seconds": MONEY,
    "unpriced": st.sampled_from([True, False, "true", 0, "maybe"]),
    "attributes": st.one_of(
        st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(), st.booleans())),
        st.sampled_from([None, {}, "not a dict", {"k": "v" * 9000}]),
    ),
    "custom_field": st.one_of(st.text(max_size=5), st.integers(), st.none()),
}
RECORD = st.fixed_dictionaries(
    {"event_id": IDS, "started_at": TIMES},
    optional=FIELDS,
)
RECORDS = st.lists(st.one_of(RECORD, RECORD, RECORD, st.sampled_from([7, "x", None, []])), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS)
def test_messy_batches_match_the_model_path(records: list[Any]) -> None:
    assert_same_as_model_path(records)


def test_a_clean_sdk_batch_takes_the_fast_path_and_matches() -> None:
    records = [
        Event(
            model="gpt-4o-mini",
            provider="openai",
            input_tokens=100 + i,
            output_tokens=i,
            cost_usd=Decimal("0.0001234567891234") if i % 2 else None,
            attributes={"team": "a"} if i % 3 else {},
            ended_at=datetime(2030, 1, 1, tzinfo=UTC),
        ).model_dump(mode="json", exclude_none=True)
        for i in range(50)
    ]
    assert_same_as_model_path(records)
    table = event_batch(records).table
    assert table.num_rows == 50
    assert table.column("cost_usd")[1].as_py() == Decimal("0.000123456789")  # rounded half-even to 12
    assert table.column("cost_source")[1].as_py() == "reported"


def test_defaults_are_filled_per_record() -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    batch = event_batch([{"model": "gpt-4o"}, {"model": "gpt-4o", "kind": "embedding"}])
    after = datetime.now(UTC).replace(tzinfo=None)
    rows = batch.table.to_pylist()
    assert [r["kind"] for r in rows] == ["llm", "embedding"]
    assert all(before <= r["started_at"] <= after for r in rows)
    # Fresh ids are uuid4 hex: stored compactly (event_id NULL, rebuilt from event_uuid).
    assert all(r["event_id"] is None and uuid.UUID(bytes=r["event_uuid"]).version == 4 for r in rows)
    assert rows[0]["event_uuid"] != rows[1]["event_uuid"]


def test_rows_keep_their_input_order_when_some_need_the_model() -> None:
    records: list[Any] = [
        {"event_id": "a", "model": "m", "prompt_tokens": 1, "extra": 1},  # alias + unknown field
        {"event_id": "b", "model": "m", "input_tokens": "2"},  # a string the column check coerces
        {"event_id": "c", "model": "m", "input_tokens": -1},  # refused
        {"event_id": "d", "model": "m", "input_tokens": 4},
    ]
    batch = event_batch(records)
    assert [r["event_id"] for r in batch.table.to_pylist()] == ["a", "b", "d"]
    assert [(p.index, p.field) for p in batch.problems] == [(2, "input_tokens")]
    assert batch.table.column("attributes")[0].as_py() == '{"extra": "1"}'


def test_a_count_too_large_for_the_ledger_is_refused_by_name() -> None:
    """The model takes any int; a BIGINT column does not: that record is refused, the rest kept."""
    for first in ({"model": "m", "input_tokens": 2**70}, {"model": "m", "input_tokens": 2**70, "extra": "x"}):
        batch = event_batch([first, {"model": "m", "input_tokens": 5}])
        assert [r["input_tokens"] for r in batch.table.to_pylist()] == [5]
        assert [(p.index, p.field) for p in batch.problems] == [(0, "input_tokens")]
        assert "too large" in batch.problems[0].reason
