"""google-genai instrumented by OpenLLMetry's google-generativeai instrumentor, in its own process.

``python gemini_instrumented_app.py <collector_url> <api_key>``: a whole and a streamed
``generate_content`` against the fake provider's Gemini API, spans exported as OTLP/HTTP
protobuf, and the ``usage_metadata`` each answer reported printed as JSON.
"""

from __future__ import annotations

import json
import sys

from google import genai
from google.genai import types
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from costtrail.demo.fake_provider import FakeProvider

USAGE = {
    "x-fake-input-tokens": "1200",
    "x-fake-cached-tokens": "1000",
    "x-fake-output-tokens": "300",
    "x-fake-reasoning-tokens": "100",
}


def main(collector: str, api_key: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{collector}/v1/traces", headers={"Authorization": f"Bearer {api_key}"}
    )
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    instrumentor = GoogleGenerativeAiInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    usages: list[dict[str, object]] = []
    try:
        with FakeProvider() as fake:
            options = types.HttpOptions(base_url=fake.base_url, headers=USAGE)
            client = genai.Client(api_key="AIza-not-stored", http_options=options)
            whole = client.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
            usages.append(whole.usage_metadata.model_dump() if whole.usage_metadata else {})
            last = None
            for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Thanks"):
                last = chunk.usage_metadata or last
            usages.append(last.model_dump() if last else {})
            client.close()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    print(json.dumps(usages))


if __name__ == "__main__":
    main(*sys.argv[1:3])
