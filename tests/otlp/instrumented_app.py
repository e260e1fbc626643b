"""An app instrumented by a real OpenTelemetry instrumentation library, run in its own process.

Instrumentors patch the ``openai`` module globally, so each library runs in a
fresh interpreter: ``python instrumented_app.py <library> <collector_url> <api_key>``.
It calls the fake provider with the official client (plain, streaming, tool
call, embeddings, cached and reasoning tokens), exports spans as OTLP/HTTP
protobuf, and prints the usage each response reported as JSON.
"""

from __future__ import annotations

import json
import sys

import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from costtrail.demo.fake_provider import FakeProvider

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
]


def instrumentor(library: str) -> object:
    if library == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    return OpenAIInstrumentor()


def main(library: str, collector: str, api_key: str) -> None:
    resource = Resource.create({"service.name": "support-bot", "deployment.environment.name": "staging"})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(
        endpoint=f"{collector}/v1/traces", headers={"Authorization": f"Bearer {api_key}"}
    )
    # One export at shutdown: inherited fields reach the descendants exported with their ancestor
    # (docs/otlp.md, Limits); the default 5 s schedule could split this trace on a loaded machine.
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    tracer = provider.get_tracer("app")
    inst = instrumentor(library)
    inst.instrument(tracer_provider=provider)  # type: ignore[attr-defined]
    usages: list[dict[str, object]] = []
    try:
        with FakeProvider() as fake:
            client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test-not-stored")
            workflow = {
                "traceloop.span.kind": "workflow",
                "traceloop.workflow.name": "support_reply",
                "traceloop.entity.name": "support_reply",
                "traceloop.association.properties.customer_id": "cust-9",
            }
            with tracer.start_as_current_span("support_reply.workflow", attributes=workflow) as root:
                usages.append({"trace_id": format(root.get_span_context().trace_id, "032x")})
                # An agent span that sums its children's usage: must not be counted again.
                with tracer.start_as_current_span(
                    "invoke_agent triage",
                    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"},
                ) as agent:
                    r = client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": "Where is my order?"}],
                        extra_headers={
                            "x-fake-input-tokens": "2000",
                            "x-fake-cached-tokens": "1024",
                            "x-fake-output-tokens": "300",
                            "x-fake-reasoning-tokens": "120",
                        },
                    )
                    usages.append({"kind": "chat", "usage": r.usage.model_dump() if r.usage else None})
                    t = client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": "Look up order 42"}],
                        tools=TOOLS,  # type: ignore[arg-type]
                        extra_headers={"x-fake-tool-calls": "2"},
                    )
                    usages.append({"kind": "tools", "usage": t.usage.model_dump() if t.usage else None})
                    total_in = sum(int(u["usage"]["prompt_tokens"]) for u in usages[1:])  # type: ignore[index]
                    agent.set_attribute("gen_ai.usage.input_tokens", total_in)
                    agent.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                stream = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "Say thanks"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                last = None
                for chunk in stream:
                    last = chunk.usage or last
                usages.append({"kind": "stream", "usage": last.model_dump() if last else None})
                e = client.embeddings.create(model="text-embedding-3-small", input="order 42 shipped")
                usages.append({"kind": "embedding", "usage": e.usage.model_dump()})
    finally:
        inst.uninstrument()  # type: ignore[attr-defined]
        provider.shutdown()
    print(json.dumps(usages))


if __name__ == "__main__":
    main(*sys.argv[1:4])
