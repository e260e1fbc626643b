"""OTLP/HTTP trace payloads: protobuf or JSON in, OpenTelemetry's own messages out.

OTLP/JSON differs from the protobuf JSON mapping in one way that matters: trace
and span ids are hex strings, not base64. They are converted before parsing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from costtrail.schema.json_depth import JsonTooDeep, check_json_depth

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class OtlpDecodeError(ValueError):
    """The payload is not a valid OTLP trace export in the encoding its Content-Type names."""


def is_json(content_type: str) -> bool:
    return "json" in content_type.lower()


def decode_traces(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse an OTLP/HTTP trace export (``application/x-protobuf`` or ``application/json``)."""
    request = ExportTraceServiceRequest()
    if is_json(content_type):
        try:
            check_json_depth(body)
            data = json.loads(body)
        except JsonTooDeep as exc:
            raise OtlpDecodeError(str(exc)) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OtlpDecodeError(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise OtlpDecodeError("an OTLP/JSON export is an object with 'resourceSpans'")
        try:
            json_format.ParseDict(_hex_ids_to_base64(data), request, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError) as exc:
            raise OtlpDecodeError(f"not an OTLP/JSON trace export: {exc}") from exc
        return request
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(
            f"not an OTLP protobuf trace export ({exc}): send Content-Type application/json for OTLP/JSON"
        ) from exc
    return request


def encode_response(content_type: str, rejected_spans: int = 0, message: str = "") -> tuple[bytes, str]:
    """The ExportTraceServiceResponse in the request's encoding (partial success when spans were refused)."""
    response = ExportTraceServiceResponse()
    if rejected_spans or message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = message
    if is_json(content_type):
        return json_format.MessageToJson(response, indent=None).encode(), JSON
    return response.SerializeToString(), PROTOBUF


def _hex_ids_to_base64(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in _ID_KEYS and isinstance(v, str) and v:
                try:
                    out[k] = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError:
                    out[k] = v  # already base64 (some exporters use the protobuf JSON mapping)
            else:
                out[k] = _hex_ids_to_base64(v)
        return out
    if isinstance(value, list):
        return [_hex_ids_to_base64(v) for v in value]
    return value
