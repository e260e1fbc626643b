"""The one reading of provider wire formats: every door (SDK, gateway, OTLP, demo) reads responses here.

For whole JSON bodies and for SSE streams read chunk by chunk, a
:class:`Reading` says: usage of every token class (cache writes by TTL), the
service tier the provider answered with, tool calls by type, model, request
id, the error the provider reported, and whether the response was whole.
Usage paths come from genai-prices' extractors (see :mod:`costtrail.wire.usage`).

>>> from costtrail.wire import MESSAGES, read_body
>>> r = read_body(MESSAGES, b'{"model": "claude-sonnet-4-5", "usage": {"input_tokens": 1000,'
...     b' "cache_creation_input_tokens": 8000, "cache_creation": {"ephemeral_1h_input_tokens": 8000},'
...     b' "output_tokens": 500}}')
>>> (r.input_tokens, r.cache_write_tokens, r.cache_write_1h_tokens, r.status(200))
(9000, 8000, 8000, ('success', None))
"""

from costtrail.wire.bodies import read_body
from costtrail.wire.flavors import (
    ANTHROPIC,
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    FLAVORS,
    GEMINI,
    GEMINI_EMBED,
    GOOGLE,
    MESSAGES,
    OPENAI,
    RESPONSES,
    Flavor,
    flavor_for_path,
    flavor_named,
)
from costtrail.wire.gemini import gemini_request, model_from_path
from costtrail.wire.hosts import provider_for_url
from costtrail.wire.reading import (
    CLIENT_ABANDONED,
    MALFORMED_BODY,
    NO_USAGE,
    STREAM_CUT,
    Reading,
    tier_of,
)
from costtrail.wire.requests import request_input_tokens, request_tool_uses
from costtrail.wire.streams import StreamReading

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "CLIENT_ABANDONED",
    "COMPLETIONS",
    "EMBEDDINGS",
    "FLAVORS",
    "GEMINI",
    "GEMINI_EMBED",
    "GOOGLE",
    "MALFORMED_BODY",
    "MESSAGES",
    "NO_USAGE",
    "OPENAI",
    "RESPONSES",
    "STREAM_CUT",
    "Flavor",
    "Reading",
    "StreamReading",
    "flavor_for_path",
    "flavor_named",
    "gemini_request",
    "model_from_path",
    "provider_for_url",
    "read_body",
    "request_input_tokens",
    "request_tool_uses",
    "tier_of",
]
