"""The gateway on 127.0.0.1 in front of the fake provider, recording into a DuckDB ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from tests.waiting import wait_until

from costtrail.auth import KeyRing
from costtrail.controls.gate import RequestGate
from costtrail.demo.fake_provider import FakeProvider, ServerThread
from costtrail.gateway import Gateway, GatewayConfig, create_gateway_app
from costtrail.gateway.serving import server_options
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.sink import QueuedSink
from costtrail.settings import Settings

C = TypeVar("C")


@dataclass
class Rig:
    fake: FakeProvider
    url: str
    store: DuckDBStore
    sink: QueuedSink
    app: Gateway
    clients: list[Any] = field(default_factory=list)

    def closing(self, client: C) -> C:
        """``client`` (an SDK client), closed when the test ends so no socket outlives it."""
        self.clients.append(client)
        return client

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def events(self, expected: int = 1) -> list[dict[str, Any]]:
        """The stored events, once ``expected`` calls were recorded (recording follows the response)."""
        wait_until(lambda: self.sink.stats()["received"] >= expected, 10, interval=0.005)
        assert self.sink.flush(10), self.sink.stats()
        return self.store.query("SELECT * FROM events ORDER BY started_at")


MakeRig = Callable[..., Rig]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def make_rig(fake: FakeProvider) -> Iterator[MakeRig]:
    opened: list[tuple[ServerThread, QueuedSink, DuckDBStore]] = []
    rigs: list[Rig] = []

    def make(
        *,
        gate: RequestGate | None = None,
        keys: KeyRing | None = None,
        defaults: dict[str, str] | None = None,
        read_timeout_s: float = 30.0,
        upstreams: dict[str, str] | None = None,
        allowed_paths: tuple[str, ...] = (),
        pricer: Pricer | None = None,
        client: httpx.AsyncClient | None = None,
        azure_deployments: dict[str, str] | None = None,
        sink_prices: bool = True,
    ) -> Rig:
        """``sink_prices=False``: the ledger keeps the gateway's own prices, as `costtrail gateway` does."""
        store = DuckDBStore(":memory:")
        sink = QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05, price=sink_prices)
        config = GatewayConfig(
            upstreams=upstreams or {"openai": fake.openai_base_url, "anthropic": fake.base_url},
            defaults=defaults or {},
            read_timeout_s=read_timeout_s,
            require_key=keys is not None,
            allowed_paths=allowed_paths,
            azure_deployments=azure_deployments or {},
        )
        app = create_gateway_app(
            Settings(ledger=":memory:"), config, sink=sink, gate=gate, keys=keys, pricer=pricer, client=client
        )
        # Served as `costtrail gateway` serves it: uvloop + httptools, coalesced writes.
        server = ServerThread(app, server_header=False, date_header=False, **server_options()).start()
        opened.append((server, sink, store))
        rig = Rig(fake, server.base_url, store, sink, app)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        for client in rig.clients:
            client.close()
    for server, sink, store in opened:
        server.stop()
        sink.close(5)
        store.close()


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig()


VOLATILE = frozenset({"id", "created", "created_at", "call_id", "item_id", "_request_id", "signature"})


def masked(value: Any) -> Any:
    """A response without the values the provider makes fresh on every call (ids, timestamps)."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value
