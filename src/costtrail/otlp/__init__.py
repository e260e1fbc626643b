"""OTLP: mapping OpenTelemetry GenAI spans to events."""
