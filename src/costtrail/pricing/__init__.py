"""Pricing: exact model and infrastructure prices at the event's own time."""

from costtrail.pricing.engine import Price, Pricer

__all__ = ["Price", "Pricer"]
