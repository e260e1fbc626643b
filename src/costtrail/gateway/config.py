"""The gateway's settings: where each provider lives, defaults, limits, timeouts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from costtrail.wire import provider_for_url

DEFAULT_UPSTREAMS: Mapping[str, str] = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com",
}
# Upstreams with no default: an Azure OpenAI resource is the operator's own.
OPTIONAL_UPSTREAMS = ("azure",)


@dataclass(frozen=True)
class GatewayConfig:
    """Upstream base URLs by provider (``openai``, ``anthropic``), attribution defaults and limits.

    An upstream URL may end with ``/v1`` or not; the gateway forwards ``/v1/...`` paths to it.
    """

    upstreams: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_UPSTREAMS))
    defaults: Mapping[str, str] = field(default_factory=dict)
    max_body_bytes: int = 32 * 1024 * 1024
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 600.0
    require_key: bool = False
    # Fail-open (default): serve calls even while their events cannot be shipped (they wait in the
    # spool). Fail-closed: answer 503 while events are waiting because the collector is unreachable.
    fail_closed: bool = False
    # Keep each call's request and response text in the ledger's separate ``content`` table
    # (docs/reliability.md). Off: only usage, cost and attribution are recorded.
    store_content: bool = False
    # Paths under /v1/ forwarded unpriced (key-checked), e.g. ("/v1/models",); any other is refused.
    allowed_paths: tuple[str, ...] = ()
    # Output tokens the budget check assumes for a call without max_tokens when neither the rate
    # card nor genai-prices knows the model's limit (docs/controls.md).
    default_output_tokens: int = 4096
    # Azure OpenAI deployment -> the model it serves (costtrail.wire.azure.load_deployments).
    azure_deployments: Mapping[str, str] = field(default_factory=dict)

    def billed_provider(self, upstream: str) -> str:
        """Who bills the calls sent to ``upstream``: the provider of its host (genai-prices' API URL
        patterns), so ``openai=https://api.groq.com/openai`` records ``groq``; an unknown host
        (``localhost``, a private vLLM) keeps the wire format's provider.

        >>> GatewayConfig(upstreams={"openai": "https://api.groq.com/openai"}).billed_provider("openai")
        'groq'
        """
        base = self.upstreams.get(upstream)
        return provider_for_url(base, upstream) if base else upstream

    def upstream_url(self, provider: str, path: str, query: bytes) -> str:
        base = self.upstreams.get(provider)
        if base is None:
            raise KeyError(provider)
        base = base.rstrip("/")
        if base.endswith("/v1") and path.startswith("/v1/"):
            base = base[:-3]
        elif base.endswith("/openai") and path.startswith("/openai/"):
            base = base[:-7]
        return base + path + ("?" + query.decode("latin-1") if query else "")


def parse_upstreams(values: list[str]) -> dict[str, str]:
    """``openai=https://...`` items as a mapping (unknown providers are refused)."""
    out = dict(DEFAULT_UPSTREAMS)
    for item in values:
        name, sep, url = item.partition("=")
        name = name.strip().lower()
        known = name in DEFAULT_UPSTREAMS or name in OPTIONAL_UPSTREAMS
        if not sep or not known or not url.startswith(("http://", "https://")):
            raise ValueError(
                f"'{item}' is not openai=URL, anthropic=URL, google=URL or azure=URL "
                "(URL starting with http:// or https://)"
            )
        out[name] = url.strip()
    return out
