"""Reading usage from OpenAI and Anthropic responses into envelope fields.

Works on the SDKs' response objects and on plain decoded JSON alike (an
attribute or a key), so the SDK wrappers, the streaming scanner and the
gateway share one reading of each wire format.

Conventions (costtrail's): ``input_tokens`` INCLUDES cache reads and writes,
``output_tokens`` INCLUDES reasoning. OpenAI's ``prompt_tokens`` /
``input_tokens`` are already inclusive; Anthropic's ``input_tokens`` exclude
``cache_read_input_tokens`` and ``cache_creation_input_tokens``, so those are added.
"""

from __future__ import annotations

from typing import Any

_STANDARD_TIERS = frozenset({"default", "standard", "auto", "on_demand"})


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict, ``obj.key`` otherwise; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def openai_usage(usage: Any) -> dict[str, int]:
    """Chat/completions (``prompt_tokens``...), Responses (``input_tokens``...) or embeddings usage."""
    if usage is None:
        return {}
    prompt = field(usage, "prompt_tokens")
    inp = _int(prompt if prompt is not None else field(usage, "input_tokens"))
    completion = field(usage, "completion_tokens")
    out = _int(completion if completion is not None else field(usage, "output_tokens"))
    details = field(usage, "prompt_tokens_details") or field(usage, "input_tokens_details")
    odetails = field(usage, "completion_tokens_details") or field(usage, "output_tokens_details")
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": _int(field(details, "cached_tokens")),
        "cache_write_tokens": _int(field(details, "cache_write_tokens")),
        "reasoning_tokens": _int(field(odetails, "reasoning_tokens")),
        "input_audio_tokens": _int(field(details, "audio_tokens")),
        "output_audio_tokens": _int(field(odetails, "audio_tokens")),
    }


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Anthropic usage, with cache reads and writes added back into ``input_tokens``."""
    if usage is None:
        return {}
    cache_read = _int(field(usage, "cache_read_input_tokens"))
    cache_write = _int(field(usage, "cache_creation_input_tokens"))
    return {
        "input_tokens": _int(field(usage, "input_tokens")) + cache_read + cache_write,
        "output_tokens": _int(field(usage, "output_tokens")),
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": _int(field(field(usage, "output_tokens_details"), "thinking_tokens")),
    }


def service_tier(value: Any) -> str | None:
    """A non-standard service tier (``flex``, ``priority``, ``batch``...), else ``None``."""
    return value if isinstance(value, str) and value not in _STANDARD_TIERS else None


def count_openai_tool_calls(body: Any) -> int:
    """Tool calls in a chat completion (``choices[].message.tool_calls``) or a Response (``*_call`` items)."""
    total = 0
    for choice in field(body, "choices") or ():
        total += len(field(field(choice, "message"), "tool_calls") or ())
    for item in field(body, "output") or ():
        kind = field(item, "type")
        if isinstance(kind, str) and kind.endswith("_call"):
            total += 1
    return total


def count_anthropic_tool_calls(body: Any) -> int:
    """``tool_use`` and ``server_tool_use`` blocks in a message."""
    return sum(
        1 for block in field(body, "content") or () if field(block, "type") in ("tool_use", "server_tool_use")
    )


def openai_response_fields(body: Any) -> dict[str, Any]:
    """Usage, model, id, tier and tool calls of a non-streamed OpenAI response (object or JSON)."""
    out: dict[str, Any] = openai_usage(field(body, "usage"))
    out["model"] = field(body, "model")
    out["tool_calls"] = count_openai_tool_calls(body)
    out["service_tier"] = service_tier(field(body, "service_tier"))
    return out


def anthropic_response_fields(body: Any) -> dict[str, Any]:
    """Usage, model, tier and tool calls of a non-streamed Anthropic message (object or JSON)."""
    usage = field(body, "usage")
    out: dict[str, Any] = anthropic_usage(usage)
    out["model"] = field(body, "model")
    out["tool_calls"] = count_anthropic_tool_calls(body)
    out["service_tier"] = service_tier(field(usage, "service_tier"))
    return out
