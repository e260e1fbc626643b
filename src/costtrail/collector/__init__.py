"""The collector: HTTP ingest of events, outcomes, cost lines and OTLP traces; the read API."""

from costtrail.collector.app import Collector, create_app
from costtrail.collector.payload import Limits

__all__ = ["Collector", "Limits", "create_app"]
