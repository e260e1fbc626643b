"""Building the gateway: ``create_gateway_app(settings, config, sink=..., gate=...)``."""

from __future__ import annotations

import httpx

from costtrail.auth import KeyRing
from costtrail.controls.chain import budget_gate_of
from costtrail.controls.gate import AllowAll, RequestGate
from costtrail.export.prometheus import CostMetrics, MeteredSink
from costtrail.gateway.config import GatewayConfig
from costtrail.gateway.proxy import Gateway
from costtrail.gateway.recording import ForwardedCallRecorder, RecordSink
from costtrail.gateway.upstream import PricedUpstream
from costtrail.pricing import Pricer
from costtrail.settings import Settings


def create_gateway_app(
    settings: Settings,
    config: GatewayConfig,
    *,
    sink: RecordSink,
    gate: RequestGate | None = None,
    pricer: Pricer | None = None,
    keys: KeyRing | None = None,
    client: httpx.AsyncClient | None = None,
    pool: PricedUpstream | None = None,
) -> Gateway:
    """The gateway ASGI app: OpenAI- and Anthropic-compatible, priced, attributed, budget-checked.

    ``sink`` receives each call's event (``costtrail.sdk.sink.QueuedSink`` over a
    local ledger or a collector); ``gate`` is asked before forwarding (default:
    allow everything). ``client`` (httpx) carries every call when given; ``pool`` the priced
    POSTs (default: :class:`costtrail.gateway.upstream.UpstreamPool`).

    Served in the foreground (as ``costtrail gateway`` does) by
    :func:`costtrail.gateway.server.serve`; in tests, on a thread::

        app = create_gateway_app(Settings(), GatewayConfig(), sink=sink)
        uvicorn.Server(uvicorn.Config(app, port=0, **server_options()))
    """
    gate = gate or AllowAll()
    metrics = CostMetrics(budgets=budget_gate_of(gate))  # served at GET /metrics
    return Gateway(
        config,
        recorder=ForwardedCallRecorder(MeteredSink(sink, metrics), gate),
        metrics=metrics,
        gate=gate,
        pricer=pricer or Pricer.from_rate_card(settings.rate_card),
        keys=keys,
        client=client,
        pool=pool,
    )
