"""An OTLP trace export as event records: the trace is the run, the call span is the step.

Only spans that are calls (a model call with usage, an embedding, a tool
execution, a retrieval) become events. Spans that group others (workflows,
tasks, agents, chains) give their names to their descendants and are never
counted when a descendant in the same export carries usage, or when they only
carry ``gen_ai.aggregated_usage.*``: that usage is the children's, summed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from costtrail.otlp.attributes import AGGREGATE_PREFIX, ENTITY_NAME, INHERITED
from costtrail.otlp.mapping import (
    event_kind,
    explicit_fields,
    has_usage,
    is_grouping,
    reconcile_tokens,
    span_fields,
)
from costtrail.otlp.reported import apply_reported_cost
from costtrail.otlp.spans import SpanRecord, iter_spans
from costtrail.schema import TOKEN_FIELDS
from costtrail.wire import NO_USAGE

MODEL_KINDS = frozenset({"llm", "embedding"})

# Usage and cost belong to the span that reported them, never to its descendants.
_NOT_INHERITED = frozenset({*TOKEN_FIELDS, "tool_calls", "cost_usd", "attributes", "model", "provider"})


@dataclass
class TraceEvents:
    """The event records an export maps to, and how many spans were not cost events."""

    records: list[dict[str, Any]] = field(default_factory=list)
    spans: int = 0
    skipped: int = 0


def event_id_for(span: SpanRecord) -> str:
    """Stable per span, so a re-exported span is a duplicate, not a second cost."""
    return f"otlp-{span.trace_id}-{span.span_id}"


def traces_to_events(request: ExportTraceServiceRequest) -> TraceEvents:
    """Map every span of an OTLP export to event records (dicts for :meth:`Event.parse`)."""
    spans = list(iter_spans(request))
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    with_usage_below = _ancestors_of_usage(spans, by_id)
    out = TraceEvents(spans=len(spans))
    for span in spans:
        record = _record(span, by_id, with_usage_below)
        if record is None:
            out.skipped += 1
        else:
            out.records.append(record)
    return out


def _record(
    span: SpanRecord,
    by_id: dict[tuple[str, str], SpanRecord],
    with_usage_below: set[tuple[str, str]],
) -> dict[str, Any] | None:
    if any(k.startswith(AGGREGATE_PREFIX) for k in span.attributes):
        return None
    if is_grouping(span) and (span.trace_id, span.span_id) in with_usage_below:
        return None
    kind = event_kind(span)
    if kind is None:
        return None
    fields = span_fields(span)
    _inherit(fields, span, by_id)
    reconcile_tokens(fields, span.attributes)
    apply_reported_cost(fields, span.attributes)
    fields.setdefault("run_id", span.trace_id)
    fields.setdefault("step", _step_name(span, by_id))
    record: dict[str, Any] = {
        "event_id": event_id_for(span),
        "kind": kind,
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "status": "error" if span.failed or fields.get("error_type") else "success",
        **fields,
    }
    if span.failed and "error_type" not in fields:
        record["error_type"] = span.status_message or "error"
    if (
        kind in MODEL_KINDS
        and record["status"] == "success"
        and not has_usage(span)
        and "cost_usd" not in fields
    ):
        # A model call whose span carries no usage: its usage is unknown, never a $0 success.
        record["status"], record["error_type"] = "incomplete", NO_USAGE
    if kind == "retrieval":
        record.setdefault("query_count", 1)
    if span.parent_id:
        record["parent_event_id"] = f"otlp-{span.trace_id}-{span.parent_id}"
    attrs = record.setdefault("attributes", {})
    attrs.update({"otel.trace_id": span.trace_id, "otel.span_id": span.span_id, "otel.span_name": span.name})
    if span.scope:
        attrs["otel.scope"] = span.scope
    return record


def _parents(span: SpanRecord, by_id: dict[tuple[str, str], SpanRecord]) -> Iterable[SpanRecord]:
    seen: set[str] = set()
    current = span
    while current.parent_id and current.parent_id not in seen:
        seen.add(current.parent_id)
        parent = by_id.get((current.trace_id, current.parent_id))
        if parent is None:
            return
        yield parent
        current = parent


def _inherit(fields: dict[str, Any], span: SpanRecord, by_id: dict[tuple[str, str], SpanRecord]) -> None:
    """Take workflow, agent, session, user, run and explicitly set attribution from the nearest ancestor."""
    for parent in _parents(span, by_id):
        inherited = span_fields(parent)
        explicit = explicit_fields(parent.attributes)
        for name in (*INHERITED, *explicit):
            if name not in fields and name in inherited and name not in _NOT_INHERITED:
                fields[name] = inherited[name]
        for key, value in inherited.get("attributes", {}).items():
            fields.setdefault("attributes", {}).setdefault(key, value)


def _step_name(span: SpanRecord, by_id: dict[tuple[str, str], SpanRecord]) -> str:
    for candidate in (span, *_parents(span, by_id)):
        name = candidate.attributes.get(ENTITY_NAME)
        if name:
            return str(name)
    return span.name


def _ancestors_of_usage(
    spans: list[SpanRecord], by_id: dict[tuple[str, str], SpanRecord]
) -> set[tuple[str, str]]:
    marked: set[tuple[str, str]] = set()
    for span in spans:
        if has_usage(span) and not is_grouping(span):
            marked.update((p.trace_id, p.span_id) for p in _parents(span, by_id))
    return marked
