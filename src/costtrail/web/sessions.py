"""Dashboard sign-in: who is looking, and the signed cookie that remembers it.

A person signs in once with a read-scoped API key. The cookie never holds the
key: it holds the key's id (found by the key store's hash check), an expiry
and an HMAC signature made with a secret that lives only in the running
process. Each request re-checks that the key still exists (a revoked key ends
its sessions at once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from costtrail.auth import ApiKey, KeyRing, Scope

COOKIE_NAME = "costtrail_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Viewer:
    """A signed-in reader: which key, and the tenant it is limited to (None: every tenant)."""

    key_id: str
    tenant_id: str | None
    name: str | None = None


class ViewerDirectory(Protocol):
    """What the dashboard needs from the API-key store."""

    def identify(self, plaintext_key: str) -> Viewer | None:
        """The viewer for a key that may read, or None for a wrong, revoked or ingest-only key."""
        ...

    def lookup(self, key_id: str) -> Viewer | None:
        """The viewer for a key id still valid for reading, or None."""
        ...

    def expired(self, plaintext_key: str) -> str | None:
        """When a genuine key expired (ISO 8601), or None."""
        ...


class SessionSigner:
    """Makes and checks session tokens: ``<key_id b64>.<expires>.<signature>``.

    >>> signer = SessionSigner(b"k" * 32)
    >>> token = signer.issue("key_1", now=1000.0)
    >>> signer.verify(token, now=1001.0)
    'key_1'
    >>> signer.verify(token + "x", now=1001.0) is None
    True
    """

    def __init__(self, secret: bytes | None = None, *, lifetime: int = SESSION_SECONDS) -> None:
        # A secret made at start-up: restarting the server signs everybody out, which is the
        # safe default for a process that may hold a tenant's data.
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.lifetime = lifetime

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, key_id: str, *, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.lifetime)
        ident = base64.urlsafe_b64encode(key_id.encode()).decode().rstrip("=")
        payload = f"{ident}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, *, now: float | None = None) -> str | None:
        """The key id a valid, unexpired token names, else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        ident, expires, signature = parts
        if not hmac.compare_digest(self._sign(f"{ident}.{expires}"), signature):
            return None
        if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
            return None
        try:
            return base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None


class KeyRingViewers:
    """The dashboard's view of the collector's :class:`~costtrail.auth.KeyRing`.

    Only keys that grant ``read`` may sign in; an ``ingest`` key gets the login page.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    @staticmethod
    def _viewer(key: ApiKey) -> Viewer | None:
        if not key.allows(Scope.READ):
            return None
        return Viewer(key.key_id, key.tenant, key.label or None)

    def identify(self, plaintext_key: str) -> Viewer | None:
        key = self.ring.verify(plaintext_key)
        return self._viewer(key) if key else None

    def lookup(self, key_id: str) -> Viewer | None:
        if key_id == "demo" and self.ring.demo:
            return Viewer("demo", None, "local demo key")
        for key in self.ring.list():
            if key.key_id == key_id:
                return None if key.expired() else self._viewer(key)
        return None

    def expired(self, plaintext_key: str) -> str | None:
        """When a genuine key expired (None for a valid or unknown key): the sign-in page says so."""
        key = self.ring.expired(plaintext_key)
        return key.expires_at if key else None


def demo_link(base_url: str, key: str | None = None) -> str:
    """A ready sign-in link: the key rides in the URL's #fragment, which browsers never send.

    So it appears in no server or proxy log; the login page reads it, posts it and
    removes it from the address bar.

    >>> demo_link("http://127.0.0.1:8787", "ct_demo_x")
    'http://127.0.0.1:8787/login#key=ct_demo_x'
    """
    from costtrail.auth import DEMO_KEY

    return f"{base_url.rstrip('/')}/login#key={key or DEMO_KEY}"
