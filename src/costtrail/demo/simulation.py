"""Run the simulated product through the real SDK, the official clients and the local fake provider.

Every model call is a real HTTP request from the official ``openai`` or
``anthropic`` async client, instrumented by ``costtrail.instrument``, to the
fake provider on 127.0.0.1 (its ``x-fake-*`` headers set the usage and the
failures a real provider would have). Retrieval queries and tool calls are
recorded with ``costtrail.record`` (their costs are reported by the caller,
as a vector database bill or a per-call API price would be), and outcomes
with ``costtrail.outcome``. Runs execute concurrently (asyncio tasks, each
with its own run context and simulated clock) so 30 days take about a minute.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import anthropic
import openai

import costtrail
from costtrail.demo.clock import SimulatedClockSink, simulated_time
from costtrail.demo.product import UNPRICED_MODEL, PlannedRun, plan_runs
from costtrail.demo.provider_process import ProviderProcess

ProgressFn = Callable[[int, int], None]

# Simulated provider latency: time to first token + per output token (ms), before latency_scale.
_LATENCY = {
    "gpt-4o-mini": (350, 8),
    "gpt-4o": (550, 14),
    "o4-mini": (1800, 9),
    "text-embedding-3-small": (90, 0),
    "claude-sonnet-4-6": (700, 16),
    "claude-haiku-4-5": (380, 7),
    UNPRICED_MODEL: (250, 5),
}
_FILLER = (
    "Ticket 4471: the customer cannot export invoices since the last update; they tried two browsers "
    "and cleared the cache. Knowledge base: exports run nightly, large accounts use the async export. "
)


@dataclass(frozen=True)
class DemoConfig:
    """What to simulate: ``days`` ending today, about ``runs_per_day`` runs a weekday, from ``seed``.

    ``latency_scale`` scales the fake provider's simulated latency (1.0: typical
    provider latency; the default answers 5x faster to keep the demo short).
    """

    ledger: str = "costtrail.duckdb"
    days: int = 30
    runs_per_day: float = 30.0
    seed: int = 7
    concurrency: int = 128
    latency_scale: float = 0.2
    end: datetime | None = None


@dataclass
class DemoResult:
    """What the simulation did (counted on the app side) and the SDK's own counters."""

    runs: int = 0
    model_calls: int = 0
    failed_calls: int = 0
    recorded: int = 0
    outcomes: int = 0
    customers: int = 0
    elapsed_s: float = 0.0
    sdk_stats: dict[str, int] = field(default_factory=dict)


def _text(tokens: int) -> str:
    """About ``tokens`` tokens of text (the fake provider counts ~4 characters a token)."""
    chars = max(4, tokens * 4)
    return (_FILLER * (chars // len(_FILLER) + 1))[:chars]


class Simulator:
    """Plays each workflow of the product for one planned run at a time (many runs concurrently)."""

    def __init__(
        self, oa: openai.AsyncOpenAI, an: anthropic.AsyncAnthropic, scale: float, result: DemoResult
    ) -> None:
        self.oa, self.an, self.scale, self.result = oa, an, scale, result

    def _headers(self, model: str, output: int, rng: random.Random, **knobs: int) -> dict[str, str]:
        first, per_token = _LATENCY[model]
        delay = (first + per_token * output) * rng.uniform(0.7, 1.5) * self.scale
        headers = {"x-fake-output-tokens": str(output), "x-fake-delay-ms": str(int(delay))}
        headers.update({f"x-fake-{k.replace('_', '-')}": str(v) for k, v in knobs.items() if v})
        if knobs.get("fail_attempts"):
            headers["x-fake-status"] = "429"
        return headers

    async def chat(
        self,
        model: str,
        system: int,
        user: int,
        output: int,
        rng: random.Random,
        *,
        stream: bool = False,
        **knobs: int,
    ) -> bool:
        """An OpenAI chat completion; False when it failed (after the SDK's retries)."""
        self.result.model_calls += 1
        messages: Any = [
            {"role": "system", "content": _text(system)},
            {"role": "user", "content": _text(user)},
        ]
        headers = self._headers(model, output, rng, **knobs)
        try:
            if stream:
                chunks = await self.oa.chat.completions.create(
                    model=model, messages=messages, max_tokens=output + 50, stream=True, extra_headers=headers
                )
                async for _ in chunks:
                    pass
            else:
                await self.oa.chat.completions.create(
                    model=model, messages=messages, max_tokens=output + 50, extra_headers=headers
                )
        except openai.APIError:
            self.result.failed_calls += 1
            return False
        return True

    async def respond(self, model: str, prompt: int, output: int, rng: random.Random, **knobs: int) -> bool:
        """An OpenAI Responses call (used with a reasoning model)."""
        self.result.model_calls += 1
        try:
            await self.oa.responses.create(
                model=model,
                input=_text(prompt),
                max_output_tokens=output + 50,
                extra_headers=self._headers(model, output, rng, **knobs),
            )
        except openai.APIError:
            self.result.failed_calls += 1
            return False
        return True

    async def embed(self, tokens: int, rng: random.Random) -> bool:
        self.result.model_calls += 1
        try:
            await self.oa.embeddings.create(
                model="text-embedding-3-small",
                input=_text(tokens),
                extra_headers=self._headers("text-embedding-3-small", 0, rng),
            )
        except openai.APIError:
            self.result.failed_calls += 1
            return False
        return True

    async def claude(
        self,
        model: str,
        system: int,
        user: int,
        output: int,
        rng: random.Random,
        *,
        stream: bool = False,
        **knobs: int,
    ) -> bool:
        """An Anthropic Messages call; False when it failed (after the SDK's retries)."""
        self.result.model_calls += 1
        headers = self._headers(model, output, rng, **knobs)
        messages: Any = [{"role": "user", "content": _text(user)}]
        try:
            if stream:
                events = await self.an.messages.create(
                    model=model,
                    max_tokens=output + 50,
                    system=_text(system),
                    messages=messages,
                    stream=True,
                    extra_headers=headers,
                )
                async for _ in events:
                    pass
            else:
                await self.an.messages.create(
                    model=model,
                    max_tokens=output + 50,
                    system=_text(system),
                    messages=messages,
                    extra_headers=headers,
                )
        except anthropic.APIError:
            self.result.failed_calls += 1
            return False
        return True

    async def use_tool(
        self,
        kind: str,
        tool: str,
        provider: str,
        latency_ms: float,
        cost: Decimal,
        *,
        failed: bool = False,
        queries: int = 0,
    ) -> None:
        """A retrieval query or tool call the app pays for per use: recorded with its reported cost."""
        started = time.time()
        await asyncio.sleep(latency_ms * self.scale / 1000)
        self.result.recorded += 1
        costtrail.record(
            kind,
            tool_name=tool,
            provider=provider,
            started_at=started,
            latency_ms=round(latency_ms * self.scale, 3),
            query_count=queries,
            status="failure" if failed else "success",
            error_type="TimeoutError" if failed else None,
            cost_usd=cost,
        )

    def _outcome(self, name: str, success: bool, value_usd: Decimal | None = None) -> None:
        self.result.outcomes += 1
        costtrail.outcome(outcome=name, success=success, value_usd=value_usd)

    async def support_reply(self, run: PlannedRun, rng: random.Random) -> None:
        paying = run.customer.plan_tier in ("pro", "enterprise", "internal")
        with costtrail.step("classify", agent="router"):
            await self.chat("gpt-4o-mini", 180, rng.randint(120, 600), rng.randint(4, 16), rng)
        with costtrail.step("retrieve_docs", agent="retriever"):
            await self.embed(rng.randint(30, 90), rng)
            k = rng.randint(1, 3)
            await self.use_tool(
                "retrieval",
                "vector_search",
                "pinecone",
                rng.uniform(25, 90),
                Decimal("0.00008") * k,
                queries=k,
            )
        with costtrail.step("crm_lookup", agent="retriever"):
            await self.use_tool(
                "tool",
                "crm_lookup",
                "salesforce",
                rng.uniform(60, 400),
                Decimal("0.0002"),
                failed=rng.random() < 0.04,
            )
        roll = rng.random()
        fail = 1 if roll < 0.07 else (9 if roll < 0.11 else 0)  # a 429 retried once, or given up on
        output = rng.randint(140, 480)
        with costtrail.step("draft_reply", agent="writer"):
            if paying:
                cached = 1800 if rng.random() < 0.85 else 0
                ok = await self.claude(
                    "claude-sonnet-4-6", 1900, rng.randint(1200, 5200), output, rng,
                    stream=rng.random() < 0.35, cached_tokens=cached,
                    cache_write_tokens=0 if cached else 1800, fail_attempts=fail,
                )  # fmt: skip
            else:
                ok = await self.chat(
                    "gpt-4o-mini", 1900, rng.randint(1200, 5200), output, rng, stream=rng.random() < 0.35,
                    cached_tokens=1792 if rng.random() < 0.6 else 0, fail_attempts=fail,
                )  # fmt: skip
        if not ok:
            return  # no reply sent: the run failed on its last model call
        if run.customer.plan_tier == "enterprise" and rng.random() < 0.3:
            with costtrail.step("quality_review", agent="reviewer"):
                await self.chat("gpt-4o", 600, output + 300, rng.randint(20, 60), rng)
        if rng.random() < 0.8:  # the customer rated the reply
            resolved = rng.random() < (0.86 if paying else 0.74)
            self._outcome("ticket_resolved" if resolved else "escalated_to_human", resolved)

    async def document_extraction(self, run: PlannedRun, rng: random.Random) -> None:
        pages = rng.randint(1, 24)
        with costtrail.step("ocr", agent="ingest"):
            await self.use_tool(
                "tool", "ocr_service", "aws-textract", 150.0 * pages, Decimal("0.0015") * pages, queries=pages
            )
        doc_tokens = min(60_000, pages * rng.randint(500, 900))
        with costtrail.step("extract_fields", agent="extractor"):
            retried = 1 if rng.random() < 0.05 else 0
            ok = await self.chat("gpt-4o", 900, doc_tokens, rng.randint(250, 900), rng, fail_attempts=retried)
        if not ok:
            return
        valid = False
        with costtrail.step("validate", agent="validator"):
            await self.chat("gpt-4o-mini", 400, rng.randint(900, 2400), rng.randint(20, 80), rng)
            valid = rng.random() < 0.8
        if not valid:
            with costtrail.step("re_extract", agent="extractor"):
                reasoning = rng.randint(400, 1600)
                await self.respond(
                    "o4-mini",
                    doc_tokens + 900,
                    reasoning + rng.randint(200, 700),
                    rng,
                    reasoning_tokens=reasoning,
                )
                valid = rng.random() < 0.7
        self._outcome("fields_extracted", valid)

    async def onboarding_assistant(self, run: PlannedRun, rng: random.Random) -> None:
        history = 0
        for _ in range(rng.randint(2, 6)):
            with costtrail.step("chat_turn", agent="concierge"):
                user = rng.randint(40, 250)
                knobs = {"cached_tokens": history} if history else {"cache_write_tokens": 900}
                await self.claude(
                    "claude-haiku-4-5", 900, history + user, rng.randint(60, 260), rng, stream=True, **knobs
                )
                history += user + 200
        if rng.random() < 0.4:
            with costtrail.step("book_call", agent="concierge"):
                await self.chat("gpt-4o-mini", 700, history, rng.randint(30, 80), rng, tool_calls=1)
                await self.use_tool(
                    "tool", "calendar_booking", "calendly", rng.uniform(120, 600), Decimal("0")
                )
        if rng.random() < 0.25:
            with costtrail.step("personalize_plan", agent="planner"):
                await self.chat(UNPRICED_MODEL, 500, history, rng.randint(120, 300), rng)
        activated = rng.random() < 0.57
        self._outcome("account_activated", activated, Decimal("49.00") if activated else None)

    async def play(self, run: PlannedRun) -> None:
        rng = random.Random(run.seed)
        customer = run.customer
        workflow = getattr(self, run.workflow)
        with (
            simulated_time(run.at),
            costtrail.run(
                run.workflow,
                customer_id=customer.customer_id,
                tenant_id=customer.tenant_id,
                plan_tier=customer.plan_tier,
                environment=run.environment,
                feature=_FEATURES[run.workflow],
                team=_TEAMS[run.workflow],
            ),
        ):
            await workflow(run, rng)
        self.result.runs += 1


_FEATURES = {
    "support_reply": "ticket_replies",
    "document_extraction": "document_ai",
    "onboarding_assistant": "onboarding",
}
_TEAMS = {
    "support_reply": "support-ai",
    "document_extraction": "platform-ai",
    "onboarding_assistant": "growth",
}


async def simulate(config: DemoConfig, on_progress: ProgressFn | None = None) -> DemoResult:
    """Simulate ``config.days`` days into ``config.ledger`` through the real SDK (see module doc)."""
    customers, runs = plan_runs(
        days=config.days, runs_per_day=config.runs_per_day, seed=config.seed, end=config.end
    )
    result = DemoResult(customers=len(customers))
    started = time.perf_counter()
    # The provider runs in its own process, as a real one would (and so uses the second core).
    with ProviderProcess() as fake:
        recorder = costtrail.configure(ledger=config.ledger, product="acme-helpdesk")
        recorder.sink = SimulatedClockSink(recorder.sink)
        # Demo keys for the local fake provider; they are never real and never stored.
        oa = costtrail.instrument(
            openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-demo", max_retries=2, timeout=120.0)
        )
        an = costtrail.instrument(
            anthropic.AsyncAnthropic(
                base_url=fake.base_url, api_key="sk-ant-demo", max_retries=2, timeout=120.0
            )
        )
        sim = Simulator(oa, an, config.latency_scale, result)
        gate = asyncio.Semaphore(max(1, config.concurrency))
        done = 0

        async def one(run: PlannedRun) -> None:
            nonlocal done
            async with gate:
                await sim.play(run)
            done += 1
            if on_progress is not None:
                on_progress(done, len(runs))

        try:
            await asyncio.gather(*(one(r) for r in runs))
        finally:
            await oa.close()
            await an.close()
            costtrail.flush(timeout=60)
            result.sdk_stats = costtrail.stats()
            costtrail.shutdown()
    result.elapsed_s = time.perf_counter() - started
    return result


def run_demo(config: DemoConfig, on_progress: ProgressFn | None = None) -> DemoResult:
    """Synchronous entry point: :func:`simulate` in a fresh event loop."""
    return asyncio.run(simulate(config, on_progress))
