"""Flattening OTLP spans into plain records: ids as hex, attributes as a dict, times as datetimes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

Attributes = Mapping[str, Any]


@dataclass(frozen=True)
class SpanRecord:
    """One span with its resource and scope, ready to map."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    started_at: datetime
    ended_at: datetime | None
    failed: bool
    status_message: str
    attributes: Attributes
    resource: Attributes
    scope: str


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value (arrays as lists, key-value lists as dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes_dict(items: Any) -> dict[str, Any]:
    kvs: list[KeyValue] = list(items)
    return {kv.key: any_value(kv.value) for kv in kvs}


def _time(nanos: int) -> datetime | None:
    return datetime.fromtimestamp(nanos / 1e9, tz=UTC) if nanos else None


def iter_spans(request: ExportTraceServiceRequest) -> Iterator[SpanRecord]:
    """Every span of an export, with its resource attributes and instrumentation scope name."""
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                started = _time(span.start_time_unix_nano) or datetime.now(UTC)
                ended = _time(span.end_time_unix_nano)
                yield SpanRecord(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex() or None,
                    name=span.name,
                    started_at=started,
                    ended_at=ended if ended is None or ended >= started else started,
                    failed=span.status.code == Status.STATUS_CODE_ERROR,
                    status_message=span.status.message,
                    attributes=attributes_dict(span.attributes),
                    resource=resource,
                    scope=scope,
                )
