"""Which model a name means, as genai-prices matches it (aliases and dated snapshots).

A bill says ``gpt-4o-mini-2024-07-18`` where telemetry says ``gpt-4o-mini``; genai-prices'
model matching knows both are one model. Reconciliation joins the two sides on this id.
"""

from __future__ import annotations

from genai_prices import data_snapshot


def canonical_model(provider: str | None, model: str) -> str:
    """genai-prices' id of ``model`` at ``provider``; the name itself when genai-prices does not know it.

    >>> canonical_model("openai", "gpt-4o-mini-2024-07-18"), canonical_model("openai", "my-fine-tune")
    ('gpt-4o-mini', 'my-fine-tune')
    """
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return model
    return str(info.id)
