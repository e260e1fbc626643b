"""Web: the dashboard served by the collector."""
