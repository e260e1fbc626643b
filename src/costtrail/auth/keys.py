"""API keys: created once, shown once, stored as an HMAC-SHA256 digest.

A key looks like ``ct_<key_id>_<secret>``. The key id (public) finds the
record; the whole token is checked against its stored digest with
:func:`hmac.compare_digest`. The digest is keyed with a server secret that
never sits in the keys file, so a leaked keys file does not let anyone test
guesses offline without the secret as well.

Keys live in a small JSON file beside the ledger (``<ledger>.keys.json``),
not inside the ledger: the ledger file has one owner (the collector) and
``costtrail keys create`` must work while the collector runs. The collector
notices a changed file on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

KEY_PREFIX = "ct_"
# The local demo key: accepted only when the collector is started with --demo on a loopback address.
DEMO_KEY = "ct_demo_local-only-not-a-secret"
SECRET_ENV = "COSTTRAIL_KEY_SECRET"


class KeyRingError(RuntimeError):
    """The keys file or the server secret cannot be read or written; the message says why."""


class Scope(StrEnum):
    """What a key may do: ``ingest`` writes, ``read`` reads, ``admin`` does both."""

    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


_GRANTS: dict[Scope, frozenset[Scope]] = {
    Scope.INGEST: frozenset({Scope.INGEST}),
    Scope.READ: frozenset({Scope.READ}),
    Scope.ADMIN: frozenset({Scope.INGEST, Scope.READ, Scope.ADMIN}),
}


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never its secret)."""

    key_id: str
    scope: Scope
    tenant: str | None = None
    label: str = ""
    created_at: str = ""
    defaults: Mapping[str, str] = field(default_factory=dict)
    demo: bool = False
    expires_at: str = ""  # ISO 8601 UTC; empty: never

    def allows(self, needed: Scope) -> bool:
        """True when this key's scope grants ``needed``."""
        return needed in _GRANTS[self.scope]

    def expired(self, now: datetime | None = None) -> bool:
        """True once ``expires_at`` has passed (a key without one never expires)."""
        if not self.expires_at:
            return False
        return (now or datetime.now(UTC)) >= datetime.fromisoformat(self.expires_at)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scope"] = str(self.scope)
        data["defaults"] = dict(self.defaults)
        return data


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``token`` is shown to the user once and never stored."""

    token: str
    key: ApiKey


def keys_path_for(ledger: str) -> Path:
    """Where the keys file of a ledger lives: ``<file>.keys.json`` beside a DuckDB file."""
    path = ledger.removeprefix("duckdb://")
    if "://" in path or path == ":memory:":
        return Path("costtrail.keys.json")
    return Path(path + ".keys.json")


def _digest(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


def _key_id(token: str) -> str | None:
    if not token.startswith(KEY_PREFIX):
        return None
    parts = token[len(KEY_PREFIX) :].split("_", 1)
    return parts[0] if len(parts) == 2 and parts[0] else None


class KeyRing:
    """The set of API keys a collector or gateway accepts.

    >>> import tempfile, pathlib
    >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "k.json", secret=b"s" * 32)
    >>> issued = ring.create(Scope.INGEST, tenant="acme")
    >>> ring.verify(issued.token).tenant
    'acme'
    >>> ring.verify("ct_nope_x") is None
    True
    """

    def __init__(self, path: Path | None, *, secret: bytes, demo: bool = False) -> None:
        self.path = path
        self._secret = secret
        self._demo = demo
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        self._mtime: float | None = None
        self._dummy = _digest(secret, "ct_dummy_dummy")

    @classmethod
    def for_ledger(cls, ledger: str, *, keys_file: Path | None = None, demo: bool = False) -> KeyRing:
        """The key ring beside a ledger, with the server secret from the environment or a 0600 file."""
        path = keys_file or keys_path_for(ledger)
        return cls(path, secret=load_secret(path), demo=demo)

    # -- writing ------------------------------------------------------------

    def create(
        self,
        scope: Scope,
        *,
        tenant: str | None = None,
        label: str = "",
        defaults: Mapping[str, str] | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedKey:
        """Make a new key, store its digest and return the token (shown once).

        With ``expires_at`` every door refuses the key from that instant on.
        """
        if self.path is None:
            raise KeyRingError("this key ring has no file to store keys in")
        key_id = secrets.token_hex(6)
        token = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            key_id=key_id,
            scope=Scope(scope),
            tenant=tenant or None,
            label=label,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            defaults=dict(defaults or {}),
            expires_at=expires_at.astimezone(UTC).isoformat(timespec="seconds") if expires_at else "",
        )
        with self._lock:
            records = self._read()
            records[key_id] = {**key.as_dict(), "digest": _digest(self._secret, token)}
            self._write(records)
        return IssuedKey(token=token, key=key)

    def revoke(self, key_id: str) -> bool:
        """Delete a key; True when it existed."""
        with self._lock:
            records = self._read()
            if records.pop(key_id, None) is None:
                return False
            self._write(records)
            return True

    def list(self) -> list[ApiKey]:
        """Every stored key's public record."""
        with self._lock:
            return [_public(r) for r in self._read().values()]

    # -- checking -----------------------------------------------------------

    def expired(self, token: str | None) -> ApiKey | None:
        """The key a token belongs to when it is genuine but past its ``expires_at`` (else None)."""
        key = self.verify(token, allow_expired=True)
        return key if key is not None and key.expired() else None

    def verify(self, token: str | None, *, allow_expired: bool = False) -> ApiKey | None:
        """The key a token belongs to, or None (compared in constant time; an expired key is None)."""
        if not token:
            return None
        if self._demo and hmac.compare_digest(token.encode(), DEMO_KEY.encode()):
            return ApiKey(key_id="demo", scope=Scope.ADMIN, label="local demo key", demo=True)
        key_id = _key_id(token)
        with self._lock:
            self._refresh()
            record = self._records.get(key_id or "")
        expected = record["digest"] if record else self._dummy
        matched = hmac.compare_digest(_digest(self._secret, token), str(expected))
        key = _public(record) if record and matched else None
        return key if key is not None and (allow_expired or not key.expired()) else None

    @property
    def demo(self) -> bool:
        return self._demo

    def has_keys(self) -> bool:
        with self._lock:
            self._refresh()
            return bool(self._records) or self._demo

    # -- the file -------------------------------------------------------------

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._records, self._mtime = {}, None
            return
        if mtime != self._mtime:
            self._records, self._mtime = self._read(), mtime

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            return {str(r["key_id"]): r for r in data.get("keys", [])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyRingError(f"cannot read the keys file {self.path}: {exc}") from exc

    def _write(self, records: dict[str, dict[str, Any]]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": 1, "keys": list(records.values())}, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._records = dict(records)
        self._mtime = self.path.stat().st_mtime_ns


def _public(record: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=str(record["key_id"]),
        scope=Scope(record["scope"]),
        tenant=record.get("tenant"),
        label=str(record.get("label", "")),
        created_at=str(record.get("created_at", "")),
        defaults={str(k): str(v) for k, v in (record.get("defaults") or {}).items()},
        expires_at=str(record.get("expires_at") or ""),
    )


def load_secret(keys_file: Path) -> bytes:
    """The server secret: ``$COSTTRAIL_KEY_SECRET``, else ``<keys file>.secret`` (created, mode 0600)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = keys_file.with_name(keys_file.name + ".secret")
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value
