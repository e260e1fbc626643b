"""OpenTelemetry ingest: OTLP/HTTP trace exports mapped to ledger events."""

from costtrail.otlp.decode import OtlpDecodeError, decode_traces, encode_response
from costtrail.otlp.reported import add_own_prices
from costtrail.otlp.traces import TraceEvents, event_id_for, traces_to_events

__all__ = [
    "OtlpDecodeError",
    "TraceEvents",
    "add_own_prices",
    "decode_traces",
    "encode_response",
    "event_id_for",
    "traces_to_events",
]
