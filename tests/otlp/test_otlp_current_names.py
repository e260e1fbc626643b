"""Spans with the current GenAI usage names and a reported cost, sent by the OpenTelemetry SDK.

The real SDK and its OTLP/HTTP protobuf exporter send to a real collector on
127.0.0.1; expected costs come from genai-prices.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer
from tests.otlp.conftest import OtlpCollector
from tests.prices import genai_price


@pytest.fixture
def tracer(otlp_collector: OtlpCollector) -> Iterator[Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": "current-names"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{otlp_collector.url}/v1/traces",
        headers={"Authorization": f"Bearer {otlp_collector.key}"},
        timeout=10,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # exports as each span ends
    yield provider.get_tracer("costtrail-tests")
    provider.shutdown()


def _call(tracer: Tracer, name: str, attrs: dict[str, Any]) -> None:
    with tracer.start_as_current_span(name) as span:
        span.set_attributes({"gen_ai.operation.name": "chat", **attrs})


def _rows(collector: OtlpCollector) -> dict[str, dict[str, Any]]:
    rows = collector.store.query("SELECT * FROM events")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        attrs = row["attributes"]
        row["attributes"] = json.loads(attrs) if isinstance(attrs, str) else dict(attrs or {})
        out[row["attributes"]["otel.span_name"]] = row
    return out


def test_current_usage_names_map_to_every_token_class(tracer: Tracer, otlp_collector: OtlpCollector) -> None:
    _call(
        tracer,
        "cached",
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.input_tokens": 5000,  # inclusive of the cache, as the convention says
            "gen_ai.usage.output_tokens": 400,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
        },
    )
    _call(
        tracer,
        "reasoning",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "o4-mini",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.reasoning.output_tokens": 300,
        },
    )
    _call(
        tracer,
        "audio",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "gpt-audio",
            "gen_ai.usage.input_tokens": 250,
            "gen_ai.usage.output_tokens": 150,
            "gen_ai.usage.audio.input_tokens": 200,
            "gen_ai.usage.text.input_tokens": 50,  # a part of input_tokens, priced as input
            "gen_ai.usage.audio.output_tokens": 100,
        },
    )
    rows = _rows(otlp_collector)
    cached, reasoning, audio = rows["cached"], rows["reasoning"], rows["audio"]
    assert (cached["input_tokens"], cached["cache_read_tokens"], cached["cache_write_tokens"]) == (
        5000,
        3000,
        1000,
    )
    assert cached["cost_usd"] == genai_price(
        "anthropic",
        "claude-3-5-sonnet-20241022",
        input_tokens=5000,
        output_tokens=400,
        cache_read_tokens=3000,
        cache_write_tokens=1000,
    )
    # 1000 * $3/M + 3000 * $0.30/M + 1000 * $3.75/M + 400 * $15/M
    assert cached["cost_usd"] == Decimal("0.01365")
    assert (reasoning["output_tokens"], reasoning["reasoning_tokens"]) == (500, 300)
    assert reasoning["cost_usd"] == genai_price(
        "openai", "o4-mini", input_tokens=1000, output_tokens=500, reasoning_tokens=300
    )
    assert (audio["input_audio_tokens"], audio["output_audio_tokens"]) == (200, 100)
    expected_audio = genai_price(
        "openai",
        "gpt-audio",
        input_tokens=250,
        output_tokens=150,
        input_audio_tokens=200,
        output_audio_tokens=100,
    )
    assert audio["cost_usd"] == expected_audio
    # 50 text in * $2.50/M + 200 audio in * $32/M + 50 text out * $10/M + 100 audio out * $64/M
    assert expected_audio == Decimal("0.013425")
    # audio tokens have their own, higher price: the text-only figure would be wrong
    assert expected_audio != genai_price("openai", "gpt-audio", input_tokens=250, output_tokens=150)
    for row in rows.values():
        assert (row["cost_source"], row["unpriced"]) == ("computed", False)


def test_a_reported_usd_cost_is_kept_next_to_costtrails_own(
    tracer: Tracer, otlp_collector: OtlpCollector
) -> None:
    usage = {
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 100,
    }
    _call(tracer, "usd", {**usage, "gen_ai.usage.cost.amount": 0.0123, "gen_ai.usage.cost.currency": "USD"})
    _call(tracer, "eur", {**usage, "gen_ai.usage.cost.amount": 0.0113, "gen_ai.usage.cost.currency": "EUR"})
    _call(tracer, "none", {**usage, "gen_ai.usage.cost.amount": 0.0123})
    rows = _rows(otlp_collector)
    own = genai_price("openai", "gpt-4o", input_tokens=2000, output_tokens=100)
    # 2000 * $2.50/M + 100 * $10/M
    assert own == Decimal("0.006")
    usd = rows["usd"]
    assert (usd["cost_usd"], usd["cost_source"], usd["unpriced"]) == (Decimal("0.0123"), "reported", False)
    assert Decimal(usd["attributes"]["computed_cost_usd"]) == own
    assert usd["attributes"]["computed_price_ref"]
    assert (usd["attributes"]["reported_cost_amount"], usd["attributes"]["reported_cost_currency"]) == (
        "0.0123",
        "USD",
    )
    for name, flag in (("eur", "'EUR' is not USD"), ("none", "no gen_ai.usage.cost.currency")):
        row = rows[name]
        # never summed as dollars: costtrail prices the call itself and says why
        assert (row["cost_usd"], row["cost_source"]) == (own, "computed")
        assert flag in row["attributes"]["reported_cost_ignored"]
    assert rows["eur"]["attributes"]["reported_cost_amount"] == "0.0113"


# gen_ai.provider.name values of the conventions -> genai-prices' provider ids
PROVIDERS = [
    ("gcp.gemini", "google", "gemini-2.5-flash"),
    ("gcp.vertex_ai", "google", "gemini-2.5-flash"),
    ("aws.bedrock", "aws", "amazon.nova-pro-v1:0"),
    ("azure.ai.openai", "azure", "gpt-4o"),
    ("groq", "groq", "llama-3.3-70b-versatile"),
    ("mistral_ai", "mistral", "mistral-large-latest"),
    ("deepseek", "deepseek", "deepseek-chat"),
    ("x_ai", "x-ai", "grok-3"),
]


def test_convention_provider_names_are_priced_as_their_provider(
    tracer: Tracer, otlp_collector: OtlpCollector
) -> None:
    for name, _, model in PROVIDERS:
        _call(
            tracer,
            name,
            {
                "gen_ai.provider.name": name,
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
            },
        )
    rows = _rows(otlp_collector)
    for name, provider, model in PROVIDERS:
        row = rows[name]
        assert (row["provider"], row["unpriced"]) == (provider, False), name
        assert row["cost_usd"] == genai_price(provider, model, input_tokens=1000, output_tokens=100), name


def test_tool_use_counts_come_from_explicit_costtrail_attributes(
    tracer: Tracer, otlp_collector: OtlpCollector
) -> None:
    """No GenAI, OpenLLMetry or OpenInference name counts web searches: `costtrail.web_searches` does."""
    _call(
        tracer,
        "searched",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "costtrail.web_searches": 2,
            "costtrail.file_searches": 1,
        },
    )
    row = _rows(otlp_collector)["searched"]
    assert (row["web_searches"], row["file_searches"]) == (2, 1)
    # 1000 x $2.50/M + 200 x $10/M + 2 searches x $10/1000 + 1 file search x $2.50/1000
    searched = genai_price("openai", "gpt-4o", input_tokens=1000, output_tokens=200, web_searches=2)
    assert row["cost_usd"] == searched + Decimal("0.0025") == Decimal("0.027")
