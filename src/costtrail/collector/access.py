"""Who is calling: the API key from ``Authorization: Bearer`` or ``X-Api-Key``, and its scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from costtrail.auth import ApiKey, KeyRing, Scope
from costtrail.auth.throttle import AuthThrottle
from costtrail.collector.errors import ApiError


def token_from(request: Request) -> str | None:
    """The API key a request carries, if any."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or request.headers.get("x-costtrail-key") or None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authorize(keys: KeyRing, request: Request, needed: Scope, throttle: AuthThrottle | None = None) -> ApiKey:
    """The caller's key, or 401 (missing or wrong key) / 403 (key lacks the scope).

    With a ``throttle``, a client that failed too often gets 429 for its next missing or wrong
    key. A valid key is always let through: a flood of bad guesses from an address (or one
    claiming it) must not lock out the real key's owner behind the same address.
    """
    client = client_address(request)
    token = token_from(request)
    key = keys.verify(token) if token is not None else None
    if key is None and throttle is not None:
        wait = throttle.retry_after(client)
        if wait:
            raise ApiError(
                429,
                "too_many_auth_failures",
                f"too many requests with a missing or wrong API key from {client}: wait {wait} s, then "
                "send a valid key",
                headers={"Retry-After": str(wait)},
            )
        throttle.failed(client)
    if token is None:
        raise ApiError(
            401,
            "missing_api_key",
            "no API key: send 'Authorization: Bearer <key>' (create one with: costtrail keys create "
            f"--scope {needed})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expired = keys.expired(token) if key is None else None
    if expired is not None:
        raise ApiError(
            401,
            "expired_api_key",
            f"this API key (id {expired.key_id}) expired at {expired.expires_at}: create a new one with "
            f"costtrail keys create --scope {expired.scope} (and --expires for its lifetime)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
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
        throttle: AuthThrottle | None = getattr(request.app.state, "auth_throttle", None)
        return authorize(keys, request, scope, throttle)

    return dependency
