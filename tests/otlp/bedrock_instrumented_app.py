"""boto3 ``bedrock-runtime`` instrumented by OpenLLMetry's Bedrock instrumentor, in its own process.

``python bedrock_instrumented_app.py <collector_url> <api_key>``: ``converse``, ``converse_stream``
and an Anthropic ``invoke_model`` against the fake provider's Bedrock routes, spans exported as
OTLP/HTTP protobuf, and the usage each answer reported printed as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
from botocore.config import Config
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.bedrock import BedrockInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from costtrail.demo.fake_provider import FakeProvider

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
USAGE = {"x-fake-input-tokens": "1000", "x-fake-output-tokens": "200"}
MESSAGES = [{"role": "user", "content": [{"text": "Where is my order?"}]}]


def _knobs(request: Any, **_: Any) -> None:
    for name, value in USAGE.items():
        request.headers[name] = value


def main(collector: str, api_key: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{collector}/v1/traces", headers={"Authorization": f"Bearer {api_key}"}
    )
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    usages: list[dict[str, Any]] = []
    try:
        with FakeProvider() as fake:
            client = boto3.client(
                "bedrock-runtime",
                region_name="us-east-1",
                endpoint_url=fake.base_url,
                aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="not-stored",
                config=Config(retries={"max_attempts": 1}),
            )
            client.meta.events.register("before-sign.bedrock-runtime", _knobs)
            usages.append(client.converse(modelId=MODEL, messages=MESSAGES)["usage"])
            body = {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 512,
                "messages": [{"role": "user", "content": "Where is my order?"}],
            }
            answer = client.invoke_model(modelId=MODEL, body=json.dumps(body))
            usages.append(json.loads(answer["body"].read())["usage"])
            client.close()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    print(json.dumps(usages))


if __name__ == "__main__":
    main(*sys.argv[1:3])
