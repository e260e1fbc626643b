from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from costtrail.schema import Event, Outcome, validate_many


def test_aliases_are_normalized() -> None:
    e = Event.parse(
        {
            "model": "gpt-4o",
            "workflow_type": "support_reply",
            "workflow_id": "run-1",
            "agent_name": "triage",
            "step_name": "classify",
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "estimated_cost_usd": "0.0125",
            "request_status": "retry",
        }
    )
    assert (e.workflow, e.run_id, e.agent, e.step) == ("support_reply", "run-1", "triage", "classify")
    assert (e.input_tokens, e.output_tokens, e.status) == (120, 30, "retry")
    assert e.cost_usd == Decimal("0.0125") and e.cost_source == "reported"


def test_unknown_fields_go_to_attributes() -> None:
    e = Event.parse({"model": "m", "ticket_priority": "p1", "shard": 3})
    assert e.attributes == {"ticket_priority": "p1", "shard": "3"}


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"model": "m", "input_tokens": -5}, "input_tokens", "greater than or equal to 0"),
        ({"model": "m", "status": "exploded"}, "status", "success"),
        ({"kind": "llm"}, "(record)", "model is required"),
        (
            {"model": "m", "started_at": "2026-01-02T00:00:00Z", "ended_at": "2026-01-01T00:00:00Z"},
            "(record)",
            "ended_at is before started_at",
        ),
    ],
)
def test_bad_input_names_the_field(record: dict[str, object], field: str, words: str) -> None:
    good, bad = validate_many(Event, [{"model": "ok"}, record])
    assert len(good) == 1
    assert bad[0].index == 1 and bad[0].field == field and words in bad[0].reason


def test_latency_is_derived_from_timestamps() -> None:
    e = Event.parse(
        {"model": "m", "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:01.5Z"}
    )
    assert e.latency_ms == 1500.0


def test_outcome_requires_run_and_success() -> None:
    with pytest.raises(ValidationError):
        Outcome.parse({"outcome": "ticket_resolved"})
    assert Outcome.parse({"run_id": "r", "outcome": "x", "success": False}).success is False
