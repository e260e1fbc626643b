"""Export: FOCUS, Prometheus metrics, rollup files."""
