"""Collector: HTTP ingest of events, outcomes, cost lines and OTLP traces; the read API."""
