"""Size limits (docs/reliability.md): body, gunzipped body, batch length, strings, attributes -> 413/422."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from costtrail.auth import KeyRing, Scope
from costtrail.collector import Limits, create_app
from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema.events import MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES, MAX_STRING
from costtrail.sdk import SdkSettings, make_sink
from costtrail.settings import Settings

LIMITS = Limits(max_body_bytes=64 * 1024, max_decoded_bytes=256 * 1024, max_records=100)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, DuckDBStore]]:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"l" * 32)
    token = keys.create(Scope.INGEST).token
    app = create_app(Settings(ledger=str(tmp_path / "l")), store, keys=keys, limits=LIMITS)
    with BackgroundServer(app) as server:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            yield client, store
    store.close()


def _event(**fields: Any) -> dict[str, Any]:
    return {"kind": "tool", "tool_name": "search", **fields}


def test_body_over_the_limit_is_413(api: tuple[httpx.Client, DuckDBStore]) -> None:
    client, store = api
    body = json.dumps([_event(note="x" * 1000) for _ in range(80)]).encode()
    assert len(body) > LIMITS.max_body_bytes
    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "(body)"
    assert response.json()["limit_bytes"] == LIMITS.max_body_bytes
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 0


def test_chunked_body_without_length_is_cut_at_the_limit(api: tuple[httpx.Client, DuckDBStore]) -> None:
    client, _ = api

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(200):
            yield json.dumps(_event(note="y" * 1000)).encode() + b","
        yield b"{}]"

    response = client.post("/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_gzip_bomb_is_413(api: tuple[httpx.Client, DuckDBStore]) -> None:
    client, _ = api
    bomb = gzip.compress(b"[" + b" " * (4 * 1024 * 1024) + b"]")
    assert len(bomb) < LIMITS.max_body_bytes
    response = client.post(
        "/v1/events", content=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]["message"]


def test_too_many_records_is_413(api: tuple[httpx.Client, DuckDBStore]) -> None:
    client, _ = api
    response = client.post("/v1/events", json=[_event() for _ in range(LIMITS.max_records + 1)])
    assert response.status_code == 413
    assert response.json()["limit_records"] == LIMITS.max_records


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (_event(model="m" * (MAX_STRING + 1)), "model"),
        (_event(event_id="e" * 129), "event_id"),
        (_event(attributes={f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 1)}), "attributes"),
        ({**_event(), **{f"extra_{i}": 1 for i in range(MAX_ATTRIBUTES + 1)}}, "attributes"),
        (_event(attributes={"note": "n" * (MAX_ATTRIBUTE_VALUE + 1)}), "attributes"),
        (_event(attributes={"k" * 300: "v"}), "attributes"),
        (_event(input_tokens=-1), "input_tokens"),
        (_event(cost_usd="1e400000"), "cost_usd"),
    ],
)
def test_oversized_or_bad_fields_are_422_naming_the_field(
    api: tuple[httpx.Client, DuckDBStore], record: dict[str, Any], field: str
) -> None:
    client, store = api
    response = client.post("/v1/events", json=[record])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["field"] == field
    assert body["rejected"][0]["field"] == field
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 0


def test_limits_at_the_edge_are_accepted(api: tuple[httpx.Client, DuckDBStore]) -> None:
    client, _ = api
    record = _event(
        model="m" * MAX_STRING,
        attributes={f"k{i}": "v" * 10 for i in range(MAX_ATTRIBUTES - 1)}
        | {"big": "b" * MAX_ATTRIBUTE_VALUE},
    )
    response = client.post("/v1/events", json=[record])
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_gateway_body_limit_is_413_in_provider_shape(tmp_path: Path) -> None:
    sink = make_sink(SdkSettings(ledger=str(tmp_path / "gw.duckdb")))
    with FakeProvider() as fake:
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url}, max_body_bytes=4096)
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink)
        with BackgroundServer(app) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test", max_retries=0)
            with pytest.raises(openai.APIStatusError) as err:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "z" * 10_000}]
                )
            assert err.value.status_code == 413
            assert len(fake.requests) == 0  # refused before anything reached the provider
    sink.close(5)
