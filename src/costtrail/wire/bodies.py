"""Reading a whole (non-streamed) JSON response."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from costtrail.wire.flavors import ANTHROPIC, GOOGLE, Flavor
from costtrail.wire.gemini import apply_gemini
from costtrail.wire.reading import MALFORMED_BODY, Reading, tier_of

# Anthropic content blocks that are a call of a tool (client-side or run by the provider).
ANTHROPIC_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def read_body(flavor: Flavor, body: bytes | Mapping[str, Any]) -> Reading:
    """The reading of one JSON response (raw bytes, or already decoded).

    A body that is not a JSON object is ``complete=False`` (``malformed_body``),
    so it records as ``incomplete``, never as a $0 success.
    """
    data = decode_json(body)
    if not isinstance(data, Mapping):
        return Reading(complete=False, ended_by=MALFORMED_BODY)
    reading = Reading(complete=True)
    apply_response(flavor, reading, data)
    return reading


def decode_json(body: bytes | Mapping[str, Any]) -> Any:
    """A body's JSON value (``None`` when it is empty or not JSON); a decoded body as it is."""
    if not isinstance(body, bytes | bytearray):
        return body
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def apply_response(flavor: Flavor, reading: Reading, data: Mapping[str, Any]) -> None:
    """Fill ``reading`` from a response object (a JSON body, or the ``response`` of a Responses event)."""
    if flavor.provider == GOOGLE:
        apply_gemini(flavor.usage, reading, data)
        reading.complete = True  # a whole body: finishReason or not, its usage is the call's
        return
    model = data.get("model")
    if isinstance(model, str) and model:
        reading.model = model
    rid = data.get("id")
    if isinstance(rid, str) and rid:
        reading.request_id = rid
    usage = flavor.usage.read(flavor.usage.block(data))
    if usage is not None:
        reading.set_usage(usage)
    reading.error_type = error_type(data) or reading.error_type
    if flavor.provider == ANTHROPIC:
        reading.service_tier = tier_of(_get(data.get("usage"), "service_tier")) or reading.service_tier
        tools: dict[str, int] = {}
        for block in _list(data.get("content")):
            kind = _get(block, "type")
            if kind in ANTHROPIC_TOOL_BLOCKS:
                tools[kind] = tools.get(kind, 0) + 1
            reading.code_executions += is_code_execution(block)
        reading.tool_calls = tools or reading.tool_calls
        return
    reading.service_tier = tier_of(data.get("service_tier")) or reading.service_tier
    tools = openai_tool_calls(data)
    reading.tool_calls = tools or reading.tool_calls
    if data.get("object") == "response" and data.get("status") == "failed" and not reading.error_type:
        reading.error_type = "response_failed"


def is_code_execution(block: Any) -> int:
    """1 for an Anthropic ``server_tool_use`` block running code (``code_execution``,
    ``bash_code_execution``, ``text_editor_code_execution``), else 0."""
    name = _get(block, "name")
    return int(
        _get(block, "type") == "server_tool_use" and isinstance(name, str) and "code_execution" in name
    )


def openai_tool_calls(data: Mapping[str, Any]) -> dict[str, int]:
    """Tool calls by type: chat ``choices[].message.tool_calls``, or Responses ``*_call`` output items."""
    tools: dict[str, int] = {}
    for choice in _list(data.get("choices")):
        for call in _list(_get(_get(choice, "message"), "tool_calls")):
            name = chat_tool_type(_get(call, "type"))
            tools[name] = tools.get(name, 0) + 1
    for item in _list(data.get("output")):
        kind = _get(item, "type")
        if isinstance(kind, str) and kind.endswith("_call"):
            tools[kind] = tools.get(kind, 0) + 1
    return tools


def chat_tool_type(kind: Any) -> str:
    """A chat tool call's type named as the Responses API names it (``function`` -> ``function_call``)."""
    return f"{kind}_call" if isinstance(kind, str) and kind else "function_call"


def error_type(data: Mapping[str, Any]) -> str | None:
    """The provider's error type or code in an error body or event, else ``None``."""
    err = data.get("error")
    if isinstance(err, Mapping):
        value = err.get("type") or err.get("code")
        return str(value) if value else "error"
    if data.get("type") == "error":
        code = data.get("code")
        return str(code) if code else "error"
    return None


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
