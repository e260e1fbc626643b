"""Reconciliation: provider bills joined to telemetry."""
