"""Optimization: what-if repricing, cheapest model that clears an eval gate, audit, forecast."""
