"""Which span or resource attribute feeds which envelope field (the table docs/otlp.md shows).

Names are listed in order of preference: an explicit ``costtrail.<field>``
first, then the current OpenTelemetry GenAI semantic conventions, then their
older names, then OpenLLMetry (Traceloop) and OpenInference spellings.
"""

from __future__ import annotations

import re
from typing import Final

SPAN_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "model": (
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.model_name",
        "embedding.model_name",
        "llm.response.model",
    ),
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.usage.prompt_tokens",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "llm.usage.completion_tokens",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.input_tokens.cached",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.input_tokens.cache_write",
        "llm.token_count.prompt_details.cache_write",
    ),
    "cache_write_1h_tokens": (
        "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens",
        "gen_ai.usage.cache_write_1h.input_tokens",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.output_tokens.reasoning",
        "llm.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    # Per-modality counts are parts of input_tokens / output_tokens. Only audio has its own price;
    # text and image counts (gen_ai.usage.{text,image}.input_tokens) are priced as input tokens.
    "input_audio_tokens": ("gen_ai.usage.audio.input_tokens", "llm.token_count.prompt_details.audio"),
    "output_audio_tokens": ("gen_ai.usage.audio.output_tokens", "llm.token_count.completion_details.audio"),
    "cost_usd": ("llm.cost.total",),
    "workflow": ("gen_ai.workflow.name", "traceloop.workflow.name"),
    "agent": ("gen_ai.agent.name",),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "session_id": ("gen_ai.conversation.id", "session.id"),
    "user_id": ("user.id",),
    "error_type": ("error.type",),
    "request_id": ("gen_ai.response.id",),
    "service_tier": ("gen_ai.openai.response.service_tier", "openai.response.service_tier"),
}

RESOURCE_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    "environment": ("deployment.environment.name", "deployment.environment"),
    "workload": ("service.name",),
    "namespace": ("k8s.namespace.name",),
    "cluster": ("k8s.cluster.name",),
    "cloud_provider": ("cloud.provider",),
}

# Fields a child span takes from its ancestors when it does not say them itself.
INHERITED: Final[tuple[str, ...]] = ("workflow", "agent", "session_id", "user_id", "run_id")

EXPLICIT_PREFIX = "costtrail."
ASSOCIATION_PREFIX = "traceloop.association.properties."
AGGREGATE_PREFIX = "gen_ai.aggregated_usage."
ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_KIND = "traceloop.span.kind"
OPENINFERENCE_KIND = "openinference.span.kind"
OPERATION = "gen_ai.operation.name"
OUTPUT_MESSAGES = "gen_ai.output.messages"  # read only to count tool calls; content is never stored
# A cost the instrumentation computed itself (proposed GenAI convention): kept as cost_source=reported
# when in USD, next to costtrail's own price; another currency is flagged and never summed as dollars.
COST_AMOUNT = "gen_ai.usage.cost.amount"
COST_CURRENCY = "gen_ai.usage.cost.currency"
TOKEN_CONVENTION = "costtrail.token_convention"  # "inclusive" | "exclusive": override the inference

# Spans that group other spans (workflows, tasks, agents, chains): never a call of their own
# when a descendant carries usage, and skipped when they only aggregate it.
GROUPING_KINDS: Final[frozenset[str]] = frozenset(
    {"workflow", "task", "agent", "CHAIN", "AGENT", "invoke_agent", "create_agent", "invoke_workflow"}
)
EMBEDDING_KINDS: Final[frozenset[str]] = frozenset({"embeddings", "EMBEDDING", "embedding"})
TOOL_KINDS: Final[frozenset[str]] = frozenset({"execute_tool", "tool", "TOOL"})
RETRIEVAL_KINDS: Final[frozenset[str]] = frozenset({"RETRIEVER", "retrieval"})

PROVIDER_NAMES: Final[dict[str, str]] = {
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure_openai": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
}

TOOL_CALL_KEYS = re.compile(
    r"^(?:gen_ai\.completion\.\d+\.tool_calls\.(\d+)\.name"
    r"|llm\.output_messages\.\d+\.message\.tool_calls\.(\d+)\.tool_call\.function\.name)$"
)
