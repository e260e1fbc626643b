"""Running the gateway in the foreground, as ``costtrail gateway`` does, and what that process owns.

:func:`serve` builds the gateway over the sink and gate it is given, serves it
until SIGINT or SIGTERM, then flushes and closes the sink and closes the gate's
budget store and ledger (:class:`~costtrail.gateway.assembly.GatewayGate`): from
the call on, both are the server's. The app owns the rest of its lifecycles: its upstream
connections and the attempts it holds for a client's retry are closed and
recorded at the ASGI lifespan's shutdown, before the sink is closed.
"""

from __future__ import annotations

import uvicorn

from costtrail.auth import KeyRing
from costtrail.gateway.app import create_gateway_app
from costtrail.gateway.assembly import GatewayGate
from costtrail.gateway.config import GatewayConfig
from costtrail.gateway.recording import RecordSink
from costtrail.gateway.serving import server_options
from costtrail.process import exit_cleanly_on_sigterm
from costtrail.settings import Settings

# How long the events still queued at shutdown may take to reach the ledger or the collector.
SINK_CLOSE_SECONDS = 10.0


def serve(
    settings: Settings,
    config: GatewayConfig,
    *,
    sink: RecordSink,
    host: str = "127.0.0.1",
    port: int = 8788,
    keys: KeyRing | None = None,
    gate: GatewayGate | None = None,
) -> None:
    """Serve the gateway on ``host:port`` until SIGINT or SIGTERM, then flush and close ``sink``
    and close ``gate`` (its budget store and ledger), however the server ended."""
    try:
        app = create_gateway_app(
            settings, config, sink=sink, keys=keys, gate=gate.gate if gate is not None else None
        )
        exit_cleanly_on_sigterm()  # so that the sink is flushed on SIGTERM too
        # The upstream's own Date and Server headers are passed on, so uvicorn adds none.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
            date_header=False,
            **server_options(),
        )
    finally:
        try:
            sink.close(timeout=SINK_CLOSE_SECONDS)
        finally:
            if gate is not None:
                gate.close()
