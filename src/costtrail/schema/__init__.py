"""Schema: the event envelope, outcome events and cost lines."""

from costtrail.schema.cost_lines import Confidence, CostLine, CostLineKind
from costtrail.schema.events import (
    COUNT_FIELDS,
    DIMENSIONS,
    EVENT_ALIASES,
    SCHEMA_VERSION,
    TOKEN_FIELDS,
    TOOL_FEE_FIELDS,
    CostSource,
    Event,
    EventKind,
    EventStatus,
    new_event_id,
)
from costtrail.schema.outcomes import Outcome
from costtrail.schema.problems import Problem, validate_many

__all__ = [
    "COUNT_FIELDS",
    "DIMENSIONS",
    "EVENT_ALIASES",
    "SCHEMA_VERSION",
    "TOKEN_FIELDS",
    "TOOL_FEE_FIELDS",
    "Confidence",
    "CostLine",
    "CostLineKind",
    "CostSource",
    "Event",
    "EventKind",
    "EventStatus",
    "Outcome",
    "Problem",
    "new_event_id",
    "validate_many",
]
