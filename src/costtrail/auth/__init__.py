"""API keys for the collector and gateway: scoped, tenant-bound, stored hashed."""

from costtrail.auth.keys import (
    DEMO_KEY,
    ApiKey,
    IssuedKey,
    KeyRing,
    KeyRingError,
    Scope,
    keys_path_for,
)

__all__ = ["DEMO_KEY", "ApiKey", "IssuedKey", "KeyRing", "KeyRingError", "Scope", "keys_path_for"]
