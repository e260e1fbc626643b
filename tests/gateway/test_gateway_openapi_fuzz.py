"""Schemathesis over the gateway's routes: no 5xx of the gateway's own, whatever the body and headers.

The gateway speaks the providers' APIs, so it has no OpenAPI document of its own; the one below
describes its priced routes loosely (the fields the gateway reads: model, messages, caps, stream,
metadata, user; the attribution headers), and schemathesis generates bodies and headers from it,
conforming or not. Each case goes through real HTTP to the gateway (served as ``costtrail
gateway`` serves it) in front of the fake provider, with a budget gate (so the estimate runs) and
a key ring. A 5xx is allowed only when it is the provider's own answer relayed (it carries the
provider's request id); the gateway itself never answers one for what a client sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from costtrail.auth import KeyRing, Scope
from costtrail.auth.throttle import AuthThrottle
from costtrail.controls.chain import build_controls
from costtrail.controls.config import ControlsConfig
from costtrail.demo.fake_provider import FakeProvider, ServerThread
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.gateway.routes import AZURE_ROUTES, ROUTES
from costtrail.gateway.serving import server_options
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.sink import QueuedSink
from costtrail.settings import Settings

_TEXT = {"type": "string", "maxLength": 300}
_BODY = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "maxLength": 80},
        "messages": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "role": _TEXT,
                    "content": {"oneOf": [_TEXT, {"type": "array", "maxItems": 3}]},
                },
            },
        },
        "input": {"oneOf": [_TEXT, {"type": "array", "maxItems": 3}]},
        "prompt": _TEXT,
        "system": _TEXT,
        "max_tokens": {"type": "integer"},
        "max_completion_tokens": {"type": "integer"},
        "max_output_tokens": {"type": "integer"},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object"},
        "user": _TEXT,
        "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 40}},
    },
    "required": ["model"],
}
_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string", "maxLength": 600}}
    for name in (
        "X-Costtrail-Workflow",
        "X-Costtrail-Run-Id",
        "X-Costtrail-Parent-Event-Id",
        "X-Costtrail-Tags",
        "X-Costtrail-Customer",
        "X-Costtrail-Tenant",
    )
]
# Azure OpenAI's routes, as a client names them: a deployment, and the api-version query.
AZURE_PATHS = [r.path.replace("{deployment}", "fuzz-deploy") for r in AZURE_ROUTES.values()]
_API_VERSION = {"name": "api-version", "in": "query", "required": True, "schema": {"type": "string"}}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "costtrail gateway (priced routes)", "version": "1"},
    "paths": {
        path: {
            "post": {
                "parameters": _HEADERS,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}},
                "responses": {"200": {"description": "the provider's answer"}},
            }
        }
        for path in ROUTES
    }
    | {
        path: {
            "post": {
                "parameters": [*_HEADERS, _API_VERSION],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}},
                "responses": {"200": {"description": "the provider's answer"}},
            }
        }
        for path in AZURE_PATHS
    },
}
schema = schemathesis.openapi.from_dict(SPEC)
CONTROLS = """
budgets:
  - {name: fuzz, scope: {}, period: day, limit_usd: 1000000, owner: sre@example.com}
alerts: {log: false}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder: Path = tmp_path_factory.mktemp("gateway-fuzz")
    keys = KeyRing(folder / "keys.json", secret=b"z" * 32)
    token = keys.create(Scope.INGEST).token
    with FakeProvider() as fake:
        store = DuckDBStore(":memory:")
        sink = QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05)
        config = GatewayConfig(
            upstreams={"openai": fake.openai_base_url, "anthropic": fake.base_url, "azure": fake.base_url},
            require_key=True,
        )
        gate = build_controls(ControlsConfig.from_yaml(CONTROLS)).gate
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink, gate=gate, keys=keys)
        app.throttle = AuthThrottle(burst=1_000_000)
        server = ServerThread(app, server_header=False, date_header=False, **server_options()).start()
        try:
            yield server.base_url, token
        finally:
            server.stop()
            sink.close(5)
            store.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_gateway_routes_never_5xx(case: Any, gateway: tuple[str, str]) -> None:
    url, token = gateway
    response = case.call(base_url=url, headers={"X-Costtrail-Key": token, "Authorization": "Bearer sk-test"})
    relayed = "x-request-id" in response.headers or "request-id" in response.headers
    assert response.status_code < 500 or relayed, f"{response.status_code}: {response.text[:500]}"
