"""The wire formats the gateway speaks: which path is which call, and each provider's error shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

OPENAI = "openai"
ANTHROPIC = "anthropic"


@dataclass(frozen=True)
class WireRoute:
    """One priced endpoint: which upstream serves it and how its usage is reported."""

    path: str
    upstream: str
    kind: str = "llm"
    # OpenAI chat/completions streams report usage only when asked (stream_options.include_usage).
    usage_on_request: bool = False


ROUTES: dict[str, WireRoute] = {
    r.path: r
    for r in (
        WireRoute("/v1/chat/completions", OPENAI, usage_on_request=True),
        WireRoute("/v1/completions", OPENAI, usage_on_request=True),
        WireRoute("/v1/responses", OPENAI),
        WireRoute("/v1/embeddings", OPENAI, kind="embedding"),
        WireRoute("/v1/messages", ANTHROPIC),
    )
}


def upstream_for_path(path: str) -> str:
    """Unpriced pass-through paths (``/v1/models``, ``/v1/messages/count_tokens``) go to their provider."""
    return ANTHROPIC if path.startswith("/v1/messages") else OPENAI


def error_body(
    style: str, status: int, message: str, *, code: str, extra: dict[str, Any] | None = None
) -> bytes:
    """An error in the provider's own shape, so the official SDKs raise their usual exception."""
    if style == ANTHROPIC:
        kinds = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": kinds.get(status, "api_error"), "message": message},
        }
    else:
        kinds = {401: "invalid_request_error", 403: "permission_error", 429: "budget_exceeded"}
        body = {
            "error": {"message": message, "type": kinds.get(status, "api_error"), "param": None, "code": code}
        }
    if extra:
        body["costtrail"] = extra
    return json.dumps(body).encode()
