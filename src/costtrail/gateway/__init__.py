"""The gateway: an OpenAI- and Anthropic-compatible proxy that prices, attributes and budgets each call."""

from costtrail.gateway.app import create_gateway_app
from costtrail.gateway.config import GatewayConfig, parse_upstreams
from costtrail.gateway.proxy import Gateway
from costtrail.gateway.recording import RecordSink

__all__ = ["Gateway", "GatewayConfig", "RecordSink", "create_gateway_app", "parse_upstreams"]
