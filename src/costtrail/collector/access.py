"""Who is calling: the API key from ``Authorization: Bearer`` or ``X-Api-Key``, and its scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from costtrail.auth import ApiKey, KeyRing, Scope
from costtrail.collector.errors import ApiError


def token_from(request: Request) -> str | None:
    """The API key a request carries, if any."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or request.headers.get("x-costtrail-key") or None


def authorize(keys: KeyRing, request: Request, needed: Scope) -> ApiKey:
    """The caller's key, or 401 (missing or wrong key) / 403 (key lacks the scope)."""
    token = token_from(request)
    if token is None:
        raise ApiError(
            401,
            "missing_api_key",
            "no API key: send 'Authorization: Bearer <key>' (create one with: costtrail keys create "
            f"--scope {needed})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = keys.verify(token)
    if key is None:
        raise ApiError(
            401,
            "invalid_api_key",
            "the API key is not valid: check it, or create a new one with costtrail keys create",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not key.allows(needed):
        raise ApiError(
            403,
            "insufficient_scope",
            f"this key has scope '{key.scope}', and this endpoint needs '{needed}': use a key created with "
            f"--scope {needed} (or admin)",
        )
    return key


def requires(scope: Scope) -> Callable[[Request], Awaitable[ApiKey]]:
    """A FastAPI dependency that authorizes the request for ``scope``."""

    async def dependency(request: Request) -> ApiKey:
        keys: KeyRing = request.app.state.keys
        return authorize(keys, request, scope)

    return dependency
