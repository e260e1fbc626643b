"""What one provider response says about its call: the :class:`Reading` every door records from.

Counts follow the envelope's convention (genai-prices' own): ``input_tokens``
includes cache reads and writes and input audio, ``output_tokens`` includes
reasoning and output audio, ``cache_write_1h_tokens`` is the part of
``cache_write_tokens`` written with a one-hour TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costtrail.schema.events import TOKEN_FIELDS, TOOL_FEE_FIELDS
from costtrail.wire.requests import request_input_tokens, request_web_searches

# Tiers that mean "the standard price": recorded as no tier at all.
STANDARD_TIERS = frozenset({"default", "standard", "auto", "on_demand"})

# Tool calls (Responses API output items) billed per use, by the envelope's tool-fee field.
FEE_TOOL_CALLS: dict[str, str] = {
    "web_searches": "web_search_call",
    "file_searches": "file_search_call",
    "code_executions": "code_interpreter_call",
}

# Token classes the envelope has no column for: kept as attributes of the event.
EXTRA_TOKEN_FIELDS: tuple[str, ...] = ("input_image_tokens", "output_image_tokens")

# Why a call's usage is unknown (``error_type`` of an ``incomplete`` event).
STREAM_CUT = "stream_cut"
CLIENT_ABANDONED = "client_abandoned"
MALFORMED_BODY = "malformed_body"
NO_USAGE = "no_usage"


def tier_of(value: Any) -> str | None:
    """A non-standard service tier (``flex``, ``priority``, ``batch``...), else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    tier = value.strip().lower()
    return None if tier in STANDARD_TIERS else tier


@dataclass
class Reading:
    """Usage, identity, tier, tool calls and completeness of one call, as its response reported them.

    >>> r = Reading(model="gpt-4o", input_tokens=10, output_tokens=2, usage_seen=True, complete=True)
    >>> r.status(200)
    ('success', None)
    >>> Reading(complete=False, ended_by="stream_cut").status(200)
    ('incomplete', 'stream_cut')
    """

    model: str | None = None
    request_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0
    output_image_tokens: int = 0
    # Server-side tool uses a provider reported apart from its tool calls (Anthropic's
    # usage.server_tool_use.web_search_requests, code execution blocks); see tool_fees().
    web_searches: int = 0
    file_searches: int = 0
    code_executions: int = 0
    service_tier: str | None = None
    tool_calls: dict[str, int] = field(default_factory=dict)  # by type: function_call, web_search_call...
    usage_seen: bool = False  # a usage block was found and read
    complete: bool = False  # the whole body was read, or the stream reached its terminal event
    error_type: str | None = None  # an error the provider reported (error event, failed response)
    ended_by: str | None = None  # why an unfinished reading stopped (STREAM_CUT, CLIENT_ABANDONED...)
    deltas_seen: int = 0  # content deltas of a stream: the output seen so far, for an estimate
    usage_estimated: bool = False  # the counts are an estimate (see estimate())

    def estimate(self, request_input_tokens: int) -> None:
        """Make an unfinished reading's counts an estimate: input from the request when the provider
        never said it, output as seen so far (one token a content delta, or the usage reported)."""
        if not self.usage_seen:
            self.input_tokens = request_input_tokens
        self.output_tokens = max(self.output_tokens, self.deltas_seen)
        self.usage_estimated = True

    def set_usage(self, values: dict[str, int]) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.usage_seen = True

    def add_tool_call(self, kind: str) -> None:
        self.tool_calls[kind] = self.tool_calls.get(kind, 0) + 1

    @property
    def tool_call_count(self) -> int:
        return sum(self.tool_calls.values())

    def status(self, http_status: int | None) -> tuple[str, str | None]:
        """The envelope ``status`` and ``error_type`` (one rule for every door).

        An HTTP error, or an error in a whole response, is ``error``; a call
        whose usage is unknown (cut or abandoned stream, an error event before
        the stream's end, unreadable body, no usage block) is ``incomplete``,
        with the provider's error as ``error_type`` when it sent one: never a
        $0 success.
        """
        if http_status is not None and http_status >= 400:
            return "error", self.error_type or f"http_{http_status}"
        if not self.complete:  # cut, abandoned, unreadable, or an error event mid-stream
            return "incomplete", self.error_type or self.ended_by or STREAM_CUT
        if self.error_type:
            return "error", self.error_type
        if not self.usage_seen:
            return "incomplete", self.ended_by or NO_USAGE
        return "success", None

    def finish(
        self,
        http_status: int | None,
        request: Mapping[str, Any] | bytes,
        status: str | None = None,
        error_type: str | None = None,
    ) -> tuple[str, str | None]:
        """The finished call's ``status`` and ``error_type`` (every door's one rule for ending a call).

        Without a ``status`` (a door that saw the call fail passes its own) :meth:`status`
        decides. An ``incomplete`` call's usage is unknown: its counts become an estimate
        from its ``request`` body, priced into ``cost_estimate_usd`` only.

        >>> r = Reading(complete=False, ended_by="stream_cut", deltas_seen=3)
        >>> r.finish(200, {"messages": [{"role": "user", "content": "x" * 40}]})
        ('incomplete', 'stream_cut')
        >>> (r.input_tokens, r.output_tokens, r.attributes()["usage_estimated"])
        (10, 3, 'true')
        """
        if status is None:
            status, error_type = self.status(http_status)
        if status == "incomplete":
            self.estimate(request_input_tokens(request))
        elif status == "success" and not self.web_searches:
            self.web_searches = request_web_searches(request)  # chat web_search_options: one search
        return status, error_type

    def tool_fees(self) -> dict[str, int]:
        """Tool uses billed per use: as the provider counted them, else its tool calls of that type.

        >>> Reading(tool_calls={"web_search_call": 2, "function_call": 1}).tool_fees()["web_searches"]
        2
        """
        return {
            name: getattr(self, name) or self.tool_calls.get(FEE_TOOL_CALLS[name], 0)
            for name in TOOL_FEE_FIELDS
        }

    def envelope_fields(self) -> dict[str, Any]:
        """Usage, tool fees, tier and tool calls as event fields (image tokens as attributes)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in TOKEN_FIELDS}
        out.update(self.tool_fees())
        out["tool_calls"] = self.tool_call_count
        if self.service_tier:
            out["service_tier"] = self.service_tier
        return out

    def attributes(self) -> dict[str, str]:
        """What the envelope has no column for: token classes, tool calls by type, the unfinished end."""
        out = {name: str(getattr(self, name)) for name in EXTRA_TOKEN_FIELDS if getattr(self, name)}
        if self.tool_calls:
            out["tool_call_types"] = ",".join(f"{k}={v}" for k, v in sorted(self.tool_calls.items()))
        if not self.complete:
            out["stream_complete"] = "false"
        if self.usage_estimated:
            out["usage_estimated"] = "true"
        return out
