"""Each provider's error body: the shape its official SDK reads into its usual exception.

The gateway answers its own refusals (budget, key, path) in the shape of the API
the client speaks; the fake provider answers its forced errors in the same shapes.

>>> error_body("anthropic", 429, "slow down")
{'type': 'error', 'error': {'type': 'rate_limit_error', 'message': 'slow down'}}
>>> error_body("google", 404, "no such model")["error"]["status"]
'NOT_FOUND'
"""

from __future__ import annotations

from typing import Any

from costtrail.wire.flavors import ANTHROPIC, GOOGLE

# OpenAI's error ``type`` by HTTP status (its SDK raises by status; the type is what logs show).
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
# Google's canonical status names (google.rpc.Code) by HTTP status.
GOOGLE_ERROR_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(
    style: str,
    status: int,
    message: str,
    *,
    kind: str | None = None,
    code: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The error body of API ``style`` (``openai``, ``anthropic``, ``google``; Azure speaks OpenAI's).

    ``kind`` overrides the error type the status gives (OpenAI, Anthropic); ``code`` is
    OpenAI's ``code``; ``request_id`` goes in Anthropic's body as its API puts it there.
    """
    if style == GOOGLE:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": GOOGLE_ERROR_STATUSES.get(status, "UNKNOWN"),
            }
        }
    if style == ANTHROPIC:
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": kind or ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
        }
        if request_id:
            body["request_id"] = request_id
        return body
    error_type = kind or OPENAI_ERROR_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}
