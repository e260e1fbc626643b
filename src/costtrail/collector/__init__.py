"""The collector: HTTP ingest of events, outcomes, cost lines and OTLP traces; the read API."""

from costtrail.collector.app import create_app
from costtrail.collector.payload import Limits
from costtrail.collector.service import Collector

__all__ = ["Collector", "Limits", "create_app"]
