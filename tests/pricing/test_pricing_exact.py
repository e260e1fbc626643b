"""Pricing agrees with genai_prices.calc_price to the exact Decimal, per event and in bulk."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data import providers
from genai_prices.types import ModelInfo, ModelPrice, StartDateConstraint, TieredPrices

from costtrail.ledger.columnar import events_to_arrow
from costtrail.pricing import Pricer
from costtrail.pricing.resolution import price_context
from costtrail.schema import Event

PROVIDERS = ("openai", "anthropic", "google", "x-ai", "deepseek", "mistral", "perplexity")
TIERS = (None, None, "batch", "priority", "flex", "default")
QUANTUM = Decimal("1e-12")


@dataclass
class Case:
    event: Event
    expected: Decimal | None  # None: genai-prices rejects this usage
    features: set[str]


def _all_prices(model: ModelInfo) -> list[ModelPrice]:
    out = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
    return out + [v.prices for v in model.price_variants or ()]


def _keys(model: ModelInfo) -> set[str]:
    return {k for mp in _all_prices(model) for k, v in mp.__dict__.items() if v is not None}


def _change_days(model: ModelInfo) -> list[date]:
    constraints = [c.constraint for c in model.prices] if isinstance(model.prices, list) else []
    constraints += [v.constraint for v in model.price_variants or ()]
    return sorted({c.start_date for c in constraints if isinstance(c, StartDateConstraint)})


def _thresholds(model: ModelInfo) -> list[int]:
    tiered = [v for mp in _all_prices(model) for v in mp.__dict__.values() if isinstance(v, TieredPrices)]
    return sorted({t.start for v in tiered for t in v.tiers})


def _usage(e: Event) -> Usage:
    return Usage(
        input_tokens=e.input_tokens,
        output_tokens=e.output_tokens,
        cache_read_tokens=e.cache_read_tokens,
        cache_write_tokens=e.cache_write_tokens,
        input_audio_tokens=e.input_audio_tokens,
        output_audio_tokens=e.output_audio_tokens,
        output_reasoning_tokens=e.reasoning_tokens,
    )


def _expected(e: Event) -> Decimal | None:
    assert e.model is not None
    try:
        return calc_price(
            _usage(e),
            e.model,
            provider_id=e.provider,
            genai_request_timestamp=e.started_at,
            price_context=price_context(e.service_tier),
        ).total_price
    except ValueError:
        return None


def _priceable(provider_id: str, model: ModelInfo, pricer: Pricer) -> bool:
    probe = Event(provider=provider_id, model=model.id, input_tokens=10, output_tokens=10)
    try:
        found = calc_price(_usage(probe), model.id, provider_id=provider_id)
    except LookupError:
        return False
    # only models priced by units events carry (audio-hours models are flagged unpriced instead)
    return found.model is model and not pricer.price(probe).unpriced


def _random_event(rng: random.Random, provider_id: str, model: ModelInfo) -> tuple[Event, set[str]]:
    keys = _keys(model)
    features: set[str] = set()
    thresholds = _thresholds(model)
    if thresholds and rng.random() < 0.5:
        inp = rng.randint(thresholds[0] - 2000, thresholds[-1] + 300_000)
    else:
        inp = rng.choice([0, rng.randint(1, 500), rng.randint(500, 60_000)])
    cache_read = rng.randint(0, inp // 2) if rng.random() < 0.5 else 0
    cache_write = rng.randint(0, (inp - cache_read) // 2) if rng.random() < 0.4 else 0
    audio_in = rng.randint(1, max(1, inp - cache_read - cache_write)) if rng.random() < 0.3 and inp else 0
    out = rng.randint(0, 8000)
    reasoning = rng.randint(0, out) if rng.random() < 0.5 else 0
    audio_out = rng.randint(0, out - reasoning) if rng.random() < 0.3 else 0
    if rng.random() < 0.04:  # an impossible usage: more cache reads than input
        cache_read = inp + rng.randint(1, 100)
        features.add("invalid")
    days = _change_days(model)
    if days and rng.random() < 0.6:
        d = rng.choice(days)
        day = d - timedelta(days=1) if rng.random() < 0.5 else d
    else:
        day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 3 * 365))
    when = datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=UTC)
    tier = rng.choice(TIERS)
    event = Event(
        provider=provider_id,
        model=model.id,
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        input_audio_tokens=audio_in,
        output_audio_tokens=audio_out,
        reasoning_tokens=reasoning,
        started_at=when,
        service_tier=tier,
    )
    if cache_read and "cache_read_mtok" in keys:
        features.add("cache_read")
    if cache_write and "cache_write_mtok" in keys:
        features.add("cache_write")
    if reasoning and "output_reasoning_mtok" in keys:
        features.add("reasoning")
    if (audio_in and "input_audio_mtok" in keys) or (audio_out and "output_audio_mtok" in keys):
        features.add("audio")
    if thresholds and inp > thresholds[0]:
        features.add("context_tier")
    return event, features


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    rng = random.Random(20250601)
    pricer = Pricer()
    out: list[Case] = []
    for p in providers:
        if p.id not in PROVIDERS:
            continue
        for model in p.models:
            if not _priceable(p.id, model, pricer):
                continue
            rare = {"output_reasoning_mtok", "input_audio_mtok"} & _keys(model)
            per_model = 8 if rare else 3
            for _ in range(per_model):
                event, features = _random_event(rng, p.id, model)
                expected = _expected(event)
                if expected is not None and event.service_tier:
                    plain = event.model_copy(update={"service_tier": None})
                    if _expected(plain) != expected:
                        features.add(f"tier:{event.service_tier}")
                out.append(Case(event, expected, features))
    return out


def test_the_cases_cover_what_the_issue_asks(cases: list[Case]) -> None:
    priced = [c for c in cases if c.expected is not None]
    assert len(priced) >= 500
    assert len({(c.event.provider, c.event.model) for c in priced}) >= 40
    by_provider = Counter(c.event.provider for c in priced)
    assert {"openai", "anthropic", "google"} <= set(by_provider)
    assert len(set(by_provider) - {"openai", "anthropic", "google"}) >= 1
    features = Counter(f for c in cases for f in c.features)
    for needed in ("cache_read", "cache_write", "audio", "context_tier", "tier:batch", "invalid"):
        assert features[needed] >= 5, (needed, features)
    assert features["reasoning"] >= 2, features


def test_each_event_priced_exactly_as_calc_price(cases: list[Case]) -> None:
    pricer = Pricer()
    for case in cases:
        got = pricer.price(case.event)
        if case.expected is None:
            assert got.unpriced and got.cost_usd is None and got.reason, case.event
        else:
            assert not got.unpriced, (case.event, got.reason)
            assert got.cost_usd == case.expected, (case.event, got, case.expected)


def test_bulk_arrow_path_matches_calc_price_and_the_event_path(cases: list[Case]) -> None:
    pricer = Pricer()
    events = [c.event for c in cases]
    table = pricer.price_table(events_to_arrow(events))
    rows = table.select(["cost_usd", "cost_source", "price_ref", "unpriced"]).to_pylist()
    exact_digits = 0
    for case, row in zip(cases, rows, strict=True):
        single = pricer.price(case.event)
        if case.expected is None:
            assert row == {"cost_usd": None, "cost_source": None, "price_ref": None, "unpriced": True}
            continue
        assert row["cost_usd"] == case.expected.quantize(QUANTUM), (case.event, row, case.expected)
        if case.expected == case.expected.quantize(QUANTUM):
            exact_digits += 1
            assert row["cost_usd"] == case.expected
        assert row["price_ref"] == single.price_ref and row["cost_source"] == "computed"
        assert row["unpriced"] is False
    # main providers' prices are whole pico-dollars per token: nothing needed rounding
    assert exact_digits == sum(1 for c in cases if c.expected is not None)


CHANGES = [
    # (provider, model, the day the price changed)
    ("openai", "o3", date(2025, 6, 10)),
    ("anthropic", "claude-opus-4-6", date(2026, 3, 13)),
    ("google", "gemini-3.6-flash", date(2027, 1, 1)),
    ("x-ai", "grok-4.20", date(2026, 4, 30)),
]


@pytest.mark.parametrize(("provider", "model", "changed"), CHANGES)
def test_the_price_in_force_at_the_events_own_time(provider: str, model: str, changed: date) -> None:
    pricer = Pricer()
    before = datetime.combine(changed, time(), tzinfo=UTC) - timedelta(microseconds=1)
    after = datetime.combine(changed, time(), tzinfo=UTC)
    events = [
        Event(provider=provider, model=model, input_tokens=250_000, output_tokens=678, started_at=t)
        for t in (before, after)
    ]
    costs = [pricer.price(e).cost_usd for e in events]
    assert costs == [_expected(e) for e in events]
    assert costs[0] != costs[1]
    bulk = pricer.price_table(events_to_arrow(events)).column("cost_usd").to_pylist()
    assert bulk == costs


def test_off_peak_hours_switch_prices_within_a_day() -> None:
    pricer = Pricer()
    day = date(2025, 5, 1)
    events = [
        Event(
            provider="deepseek",
            model="deepseek-chat",
            input_tokens=50_000,
            output_tokens=2_000,
            cache_read_tokens=10_000,
            started_at=datetime.combine(day, time(h, m), tzinfo=UTC),
        )
        for h, m in ((0, 29), (0, 30), (12, 0), (16, 29), (16, 30), (23, 59))
    ]
    expected = [_expected(e) for e in events]
    assert len(set(expected)) == 2
    assert [pricer.price(e).cost_usd for e in events] == expected
    assert pricer.price_table(events_to_arrow(events)).column("cost_usd").to_pylist() == expected


def test_equal_usage_gets_an_equal_price_whatever_else_differs() -> None:
    pricer = Pricer()
    usage = {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1200, "output_tokens": 345}
    streamed = Event(**usage, request_id="req-a", latency_ms=900.0, attributes={"stream": "true"})
    plain = Event(**usage, request_id="req-b", latency_ms=450.0)
    assert pricer.price(streamed) == pricer.price(plain)
    assert pricer.price(plain).cost_usd == Decimal("0.000387")  # 1200 x $0.15/M + 345 x $0.60/M


def test_models_priced_only_by_units_events_do_not_carry_are_flagged() -> None:
    pricer = Pricer()
    whisper = Event(provider="openai", model="whisper-1", input_tokens=100)
    calc = calc_price(_usage(whisper), "whisper-1", provider_id="openai").total_price
    assert calc == 0  # genai-prices would say $0 for lack of audio seconds
    got = pricer.price(whisper)
    assert got.unpriced and got.cost_usd is None and "audio_seconds" in (got.reason or "")
