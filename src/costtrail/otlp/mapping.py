"""One span's attributes as envelope fields (before tree rules such as inheritance)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from costtrail.otlp.attributes import (
    ASSOCIATION_PREFIX,
    EMBEDDING_KINDS,
    EXPLICIT_PREFIX,
    GROUPING_KINDS,
    OPENINFERENCE_KIND,
    OPERATION,
    OUTPUT_MESSAGES,
    PROVIDER_NAMES,
    RESOURCE_ATTRIBUTES,
    RETRIEVAL_KINDS,
    SPAN_ATTRIBUTES,
    TOKEN_CONVENTION,
    TOOL_CALL_KEYS,
    TOOL_KINDS,
    TRACELOOP_KIND,
)
from costtrail.otlp.spans import SpanRecord
from costtrail.schema import EVENT_ALIASES, TOKEN_FIELDS, Event

_EVENT_FIELDS = frozenset(Event.model_fields)
_COUNTS = frozenset({*TOKEN_FIELDS, "tool_calls"})


def first(attrs: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value not in (None, ""):
            return value
    return None


def span_kinds(span: SpanRecord) -> set[str]:
    """The kind markers a span carries (GenAI operation, Traceloop and OpenInference span kinds)."""
    a = span.attributes
    return {str(a[k]) for k in (OPERATION, TRACELOOP_KIND, OPENINFERENCE_KIND) if a.get(k)}


def has_usage(span: SpanRecord) -> bool:
    a = span.attributes
    return any(first(a, SPAN_ATTRIBUTES[f]) for f in ("input_tokens", "output_tokens"))


def is_grouping(span: SpanRecord) -> bool:
    return bool(span_kinds(span) & GROUPING_KINDS)


def explicit_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``costtrail.<field>`` and ``traceloop.association.properties.<field>`` attributes."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        for prefix in (ASSOCIATION_PREFIX, EXPLICIT_PREFIX):
            if key.startswith(prefix) and value not in (None, ""):
                name = EVENT_ALIASES.get(key[len(prefix) :], key[len(prefix) :])
                if name in _EVENT_FIELDS and name not in ("attributes", "event_id"):
                    out[name] = value
                elif prefix == ASSOCIATION_PREFIX:
                    out.setdefault("attributes", {})[name] = str(value)
    return out


def event_kind(span: SpanRecord) -> str | None:
    """The envelope kind a span records as, or None when it is not a cost event."""
    kinds = span_kinds(span)
    if kinds & TOOL_KINDS:
        return "tool"
    if kinds & RETRIEVAL_KINDS:
        return "retrieval"
    model = first(span.attributes, SPAN_ATTRIBUTES["model"])
    if not model or not (has_usage(span) or kinds - GROUPING_KINDS):
        return None
    return "embedding" if kinds & EMBEDDING_KINDS else "llm"


def span_fields(span: SpanRecord) -> dict[str, Any]:
    """The envelope fields a span names itself (resource first, span next, explicit last wins)."""
    out: dict[str, Any] = {}
    for source, table in ((span.resource, RESOURCE_ATTRIBUTES), (span.attributes, RESOURCE_ATTRIBUTES)):
        for name, keys in table.items():
            value = first(source, keys)
            if value is not None:
                out[name] = str(value)
    for name, keys in SPAN_ATTRIBUTES.items():
        value = first(span.attributes, keys)
        if value is None:
            continue
        out[name] = _as_count(value) if name in _COUNTS else str(value)
    if "provider" in out:
        provider = str(out["provider"]).lower()
        out["provider"] = PROVIDER_NAMES.get(provider, provider)
    calls = tool_calls(span.attributes)
    if calls:
        out["tool_calls"] = calls
    explicit = explicit_fields(span.resource)
    explicit_span = explicit_fields(span.attributes)
    attrs = {**explicit.pop("attributes", {}), **explicit_span.pop("attributes", {})}
    out.update(explicit)
    out.update(explicit_span)
    if attrs:
        out["attributes"] = attrs
    return out


def tool_calls(attrs: Mapping[str, Any]) -> int:
    """Tool calls a model asked for: flattened message attributes, or ``gen_ai.output.messages`` parts."""
    flattened = {(m.group(1) or m.group(2), k.split(".")[2]) for k in attrs if (m := TOOL_CALL_KEYS.match(k))}
    if flattened:
        return len(flattened)
    messages = attrs.get(OUTPUT_MESSAGES)
    if not isinstance(messages, str) or "tool_call" not in messages:
        return 0
    try:
        parsed = json.loads(messages)
    except ValueError:
        return 0
    return sum(
        1
        for message in parsed
        if isinstance(message, dict)
        for part in message.get("parts") or ()
        if isinstance(part, dict) and part.get("type") == "tool_call"
    )


def reconcile_tokens(fields: dict[str, Any], attrs: Mapping[str, Any]) -> None:
    """Make input inclusive of cache tokens and output inclusive of reasoning (the envelope's convention).

    Instrumentations that follow OpenAI and the GenAI conventions already report
    inclusive counts; raw Anthropic usage reports ``input_tokens`` without the
    cached part. A count smaller than its own parts can only be exclusive, so it
    is summed; ``costtrail.token_convention=exclusive|inclusive`` overrides.
    """
    convention = str(attrs.get(TOKEN_CONVENTION, "")).lower()
    cached = int(fields.get("cache_read_tokens", 0)) + int(fields.get("cache_write_tokens", 0))
    inputs = int(fields.get("input_tokens", 0))
    if convention == "exclusive" or (convention != "inclusive" and inputs < cached):
        fields["input_tokens"] = inputs + cached
    reasoning = int(fields.get("reasoning_tokens", 0))
    outputs = int(fields.get("output_tokens", 0))
    if convention == "exclusive" or (convention != "inclusive" and outputs < reasoning):
        fields["output_tokens"] = outputs + reasoning


def _as_count(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
