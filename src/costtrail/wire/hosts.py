"""Which provider an API base URL is: genai-prices' own ``api_pattern`` of each provider.

An OpenAI-compatible client pointed at ``https://api.groq.com/openai/v1`` speaks
OpenAI's wire format but is billed by Groq at Groq's prices, so the call is
recorded as ``groq``. Hosts genai-prices does not know (``localhost``, a private
vLLM) keep the provider of the wire format.
"""

from __future__ import annotations

import functools

from genai_prices import data_snapshot


@functools.lru_cache(maxsize=256)
def provider_for_url(base_url: str, default: str) -> str:
    """genai-prices' provider id for an API URL; ``default`` when no provider's pattern matches.

    >>> provider_for_url("https://api.groq.com/openai/v1", "openai")
    'groq'
    >>> provider_for_url("http://localhost:8000/v1", "openai")
    'openai'
    """
    try:
        found = data_snapshot.get_snapshot().find_provider(None, None, base_url.strip())
    except LookupError:
        return default
    return str(found.id)
