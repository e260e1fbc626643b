"""Schemathesis against the collector's own OpenAPI schema: no 5xx, and every 4xx says what was wrong where.

The app is the real collector (``create_app``) over a real DuckDB ledger,
called in-process through ASGI with an admin key, so every route's handler
runs on generated input; a bounded number of examples keeps it quick.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from costtrail.auth import KeyRing, Scope
from costtrail.auth.throttle import AuthThrottle
from costtrail.collector import Limits, create_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings


def _collector() -> tuple[Any, DuckDBStore, str]:
    # Built once at import: schemathesis parametrizes from a loaded schema (its fixture loader does not
    # work with this pytest); the ledger lives in a throwaway folder.
    tmp = Path(tempfile.mkdtemp(prefix="costtrail-openapi-"))
    store = DuckDBStore(tmp / "ledger.duckdb")
    keys = KeyRing(tmp / "keys.json", secret=b"f" * 32)
    token = keys.create(Scope.ADMIN).token
    limits = Limits(max_body_bytes=64 * 1024, max_decoded_bytes=256 * 1024, max_records=500)
    # keyless examples must keep getting 401, never the throttle's 429
    throttle = AuthThrottle(burst=1_000_000)
    settings = Settings(ledger=str(tmp / "ledger.duckdb"))
    app = create_app(settings, store, keys=keys, limits=limits, throttle=throttle)
    return app, store, token


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_: Any, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")

APP, STORE, TOKEN = _collector()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _close_ledger() -> Iterator[None]:
    yield
    STORE.close()


def _check(response: Any) -> None:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:500]}"
    if status < 400:
        return
    body = response.json()
    error = body.get("error") or {}
    assert error.get("code") and error.get("message"), body
    if status in (400, 413, 415, 422):
        named = error.get("field") or [r.get("field") for r in body.get("rejected", []) if r.get("field")]
        assert named, f"a {status} that names no field: {body}"


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_collector_api_never_5xx_and_names_the_field(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    _check(response)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_collector_api_without_a_key_is_401(case: Any) -> None:
    response = case.call()
    # Schemathesis also tries methods the route does not have: those are 405 before any auth.
    assert response.status_code in (401, 405), response.text[:300]
    if response.status_code == 401:
        assert "Authorization" in response.json()["error"]["message"]
