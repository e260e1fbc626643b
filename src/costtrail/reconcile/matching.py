"""Reading both sides of a reconciliation from the store: billed lines and telemetry, per day group."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore
from costtrail.pricing.model_ids import canonical_model

GroupKey = tuple[date, str, str | None, str]  # day, provider, provider_account, model (genai-prices' id)


@dataclass
class Group:
    """One day x provider x account x model: what the bill says and what telemetry says."""

    key: GroupKey
    name: str = ""  # the model as the bill names it (else as telemetry does)
    billed: Decimal | None = None
    computed: Decimal | None = None
    events: int = 0
    requests: int = 0
    unpriced: int = 0
    cache_read_tokens: int = 0
    batch_events: int = 0
    billed_by_sku: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    billed_batch: Decimal = Decimal(0)

    @property
    def variance(self) -> Decimal:
        return (self.billed or Decimal(0)) - (self.computed or Decimal(0))


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def billed_rows(store: LedgerStore, period: Period) -> list[dict[str, Any]]:
    d = store.dialect
    day = d.day("charge_period_start")
    tier = d.json_value("tags", "service_tier")
    sql = (
        f"SELECT {day} AS day, provider, provider_account, model, sku, {tier} AS tier, "
        "sum(billed_cost) AS billed "
        f"FROM {d.final('cost_lines')} "
        f"WHERE kind = 'billed' AND provider IS NOT NULL AND model IS NOT NULL "
        f"AND {period.where('charge_period_start', d.literal)} "
        f"GROUP BY {day}, provider, provider_account, model, sku, {tier}"
    )
    return store.query(sql)


def event_rows(store: LedgerStore, period: Period, providers: set[str]) -> list[dict[str, Any]]:
    d = store.dialect
    day = d.day("started_at")
    names = ", ".join(d.literal(p) for p in sorted(providers)) or "''"
    sql = (
        f"SELECT {day} AS day, lower(provider) AS provider, provider_account, model, "
        "sum(coalesce(cost_usd, 0)) AS computed, count(*) AS events, sum(request_count) AS requests, "
        "sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced, "
        "sum(cache_read_tokens) AS cache_read_tokens, "
        "sum(CASE WHEN service_tier = 'batch' THEN 1 ELSE 0 END) AS batch_events "
        f"FROM {d.final('events')} "
        f"WHERE {period.where('started_at', d.literal)} AND model IS NOT NULL "
        f"AND lower(provider) IN ({names}) "
        f"GROUP BY {day}, lower(provider), provider_account, model"
    )
    return store.query(sql)


def unbilled_providers(store: LedgerStore, period: Period, providers: set[str]) -> dict[str, Decimal]:
    """Computed cost of providers whose bill was not imported for the period (not reconciled)."""
    d = store.dialect
    sql = (
        "SELECT lower(provider) AS provider, sum(coalesce(cost_usd, 0)) AS computed "
        f"FROM {d.final('events')} WHERE {period.where('started_at', d.literal)} "
        "AND provider IS NOT NULL AND model IS NOT NULL GROUP BY lower(provider)"
    )
    return {r["provider"]: _dec(r["computed"]) for r in store.query(sql) if r["provider"] not in providers}


def _main_accounts(bills: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, str | None]:
    """Per provider, the account billed on the most days that have telemetry (where the instrumented
    traffic runs; ties: the larger bill, then the name)."""
    event_days: dict[str, set[date]] = defaultdict(set)
    for r in events:
        event_days[str(r["provider"])].add(_day(r["day"]))
    days: dict[tuple[str, str | None], set[date]] = defaultdict(set)
    totals: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    for r in bills:
        key = (str(r["provider"]).lower(), r["provider_account"])
        totals[key] += _dec(r["billed"])
        if _day(r["day"]) in event_days[key[0]]:
            days[key].add(_day(r["day"]))
    main: dict[str, str | None] = {}
    for provider, account in sorted(totals, key=lambda k: (-len(days[k]), -totals[k], str(k[1]))):
        main.setdefault(provider, account)
    return main


def load_groups(store: LedgerStore, period: Period) -> tuple[dict[GroupKey, Group], dict[str, Decimal]]:
    """Both sides joined by day x provider x account x model.

    When none of a provider's events carry ``provider_account`` (the SDK did not
    know the project or workspace), its events are matched by day x model to the
    account billed on the most days that have its telemetry (where the instrumented
    traffic runs); every other account of that provider keeps its own groups, so
    usage billed there with no telemetry is named by its account.
    Models are matched by genai-prices' model id (``canonical_model``): the bill's
    ``gpt-4o-mini-2024-07-18`` and telemetry's ``gpt-4o-mini`` are one model, shown by
    the bill's name.
    """
    bills = billed_rows(store, period)
    providers = {str(r["provider"]).lower() for r in bills}
    events = event_rows(store, period, providers)
    with_account = {str(r["provider"]) for r in events if r["provider_account"] is not None}
    main = _main_accounts(bills, events)
    groups: dict[GroupKey, Group] = {}
    ids: dict[tuple[str, str], str] = {}
    names: dict[tuple[str, str | None, str], str] = {}

    def group(day: Any, provider: str, account: str | None, model: str) -> Group:
        acct = account if provider in with_account or account != main.get(provider) else None
        if (provider, model) not in ids:
            ids[(provider, model)] = canonical_model(provider, model)
        model_id = ids[(provider, model)]
        key: GroupKey = (_day(day), provider, acct, model_id)
        if key not in groups:
            groups[key] = Group(key, names.setdefault((provider, acct, model_id), model))
        return groups[key]

    for r in bills:
        g = group(r["day"], str(r["provider"]).lower(), r["provider_account"], str(r["model"]))
        amount = _dec(r["billed"])
        g.billed = (g.billed or Decimal(0)) + amount
        g.billed_by_sku[str(r["sku"] or "")] += amount
        if (r["tier"] or "").lower() == "batch":
            g.billed_batch += amount
    for r in events:
        account = (
            r["provider_account"] if str(r["provider"]) in with_account else main.get(str(r["provider"]))
        )
        g = group(r["day"], str(r["provider"]), account, str(r["model"]))
        g.computed = (g.computed or Decimal(0)) + _dec(r["computed"])
        g.events += int(r["events"])
        g.requests += int(r["requests"] or 0)
        g.unpriced += int(r["unpriced"] or 0)
        g.cache_read_tokens += int(r["cache_read_tokens"] or 0)
        g.batch_events += int(r["batch_events"] or 0)
    return groups, unbilled_providers(store, period, providers)
