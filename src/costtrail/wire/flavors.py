"""Which wire format a call speaks: provider, API flavor, and the genai-prices extractor that reads it."""

from __future__ import annotations

from dataclasses import dataclass

from costtrail.wire.usage import UsageMap, usage_map

OPENAI = "openai"
ANTHROPIC = "anthropic"
GOOGLE = "google"
AWS = "aws"  # genai-prices' id of AWS Bedrock


@dataclass(frozen=True)
class Flavor:
    """One API of one provider: ``openai`` ``chat`` or ``responses``, ``anthropic`` ``messages``..."""

    provider: str
    name: str
    extractor: str  # genai-prices' api_flavor
    kind: str = "llm"

    @property
    def usage(self) -> UsageMap:
        return usage_map(self.provider, self.extractor)


CHAT = Flavor(OPENAI, "chat", "chat")
COMPLETIONS = Flavor(OPENAI, "completions", "chat")
RESPONSES = Flavor(OPENAI, "responses", "responses")
EMBEDDINGS = Flavor(OPENAI, "embeddings", "embeddings", kind="embedding")
MESSAGES = Flavor(ANTHROPIC, "messages", "default")
# Gemini API: generateContent and streamGenerateContent read alike (the stream is SSE with alt=sse).
GEMINI = Flavor(GOOGLE, "generate_content", "default")
GEMINI_EMBED = Flavor(GOOGLE, "embed_content", "default", kind="embedding")
# Bedrock runtime (SDK-side only: SigV4 signs the host): Converse's camelCase usage, InvokeModel's
# model-family bodies (read in costtrail.wire.bedrock), InvokeModel embeddings (Titan, Cohere).
CONVERSE = Flavor(AWS, "converse", "default")
INVOKE = Flavor(AWS, "invoke", "anthropic")
INVOKE_EMBEDDING = Flavor(AWS, "invoke_embedding", "default", kind="embedding")

FLAVORS: tuple[Flavor, ...] = (
    CHAT,
    COMPLETIONS,
    RESPONSES,
    EMBEDDINGS,
    MESSAGES,
    GEMINI,
    GEMINI_EMBED,
    CONVERSE,
    INVOKE,
    INVOKE_EMBEDDING,
)
_BY_NAME = {(flavor.provider, flavor.name): flavor for flavor in FLAVORS}

# URL path endings, most specific first (``/chat/completions`` before ``/completions``).
_PATHS: tuple[tuple[str, Flavor], ...] = (
    ("/chat/completions", CHAT),
    ("/responses", RESPONSES),
    ("/completions", COMPLETIONS),
    ("/embeddings", EMBEDDINGS),
    ("/messages", MESSAGES),
    (":generateContent", GEMINI),
    (":streamGenerateContent", GEMINI),
    (":embedContent", GEMINI_EMBED),
    (":batchEmbedContents", GEMINI_EMBED),
)


def flavor_for_path(path: str) -> Flavor | None:
    """The flavor of a model-call URL path (``/v1/chat/completions``...), or ``None`` for other paths."""
    path = path.rstrip("/")
    for suffix, flavor in _PATHS:
        if path.endswith(suffix):
            return flavor
    return None


def flavor_named(provider: str, name: str) -> Flavor:
    """A flavor by provider and name (``flavor_named("openai", "chat")``)."""
    flavor = _BY_NAME.get((provider, name))
    if flavor is not None:
        return flavor
    raise ValueError(
        f"unknown wire flavor {provider} {name}: one of "
        + ", ".join(f"{f.provider} {f.name}" for f in FLAVORS)
    )
