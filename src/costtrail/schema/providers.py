"""Provider names as genai-prices' ids: ``"OpenAI"``, ``" openai "``, ``"azure_openai"`` are ``openai``.

Every door (SDK, gateway, OTLP, the collector, ``costtrail ingest``) stores the id, so one
provider is one report row; the value as sent is kept in the ``provider_raw`` attribute.
A provider genai-prices does not know (a vector database, a GPU cloud) is stored trimmed and in
lower case.
"""

from __future__ import annotations

from functools import lru_cache

from genai_prices import data_snapshot

RAW_ATTRIBUTE = "provider_raw"
PROVIDER_IDS = frozenset(p.id for p in data_snapshot.get_snapshot().providers)


@lru_cache(maxsize=4096)  # a pure function of the name: the few names a ledger sees, matched once
def canonical_provider(value: str) -> str:
    """genai-prices' id of a provider name, else the name trimmed and lower-cased.

    >>> canonical_provider("OpenAI"), canonical_provider("azure_openai"), canonical_provider(" Pinecone ")
    ('openai', 'openai', 'pinecone')
    """
    if value in PROVIDER_IDS:
        return value
    try:
        return str(data_snapshot.get_snapshot().find_provider(None, value.strip(), None).id)
    except LookupError:
        return value.strip().lower()


def is_canonical(value: object) -> bool:
    """True when a record's provider needs no rewriting (missing, not text, or already an id)."""
    return not isinstance(value, str) or value in PROVIDER_IDS or canonical_provider(value) == value
