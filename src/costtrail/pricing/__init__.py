"""Pricing: exact model and infrastructure prices at the event's own time."""

from costtrail.pricing.engine import Price, Pricer
from costtrail.pricing.rate_card import RateCard, RateCardError

__all__ = ["Price", "Pricer", "RateCard", "RateCardError"]
