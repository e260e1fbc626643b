"""Invoices on a generated month, checked against an independent computation from the raw events.

The expected amounts below are computed in this file from the generated events
and outcomes with plain Python (no billing code), the plan's rules written out
again: allowance first, then flat, graduated or volume prices, each line rounded
to the cent half up, and a minimum commitment topping the invoice up.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from costtrail.billing import InvoiceError, PricePlans, line_rows, preview
from costtrail.finance import Period
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event, Outcome

NOV = Period.parse("2026-11")
PLANS = """
default_plan: basic
plans:
  - name: pro
    plan_tier: pro
    minimum_usd: "4.00"
    charges:
      - {name: usage, metric: cost, markup_pct: 25}
      - name: gpt4o-output
        metric: output_tokens
        per: 1000000
        unit_price: "8.00"
        included: 20000
        where: {model: gpt-4o}
      - name: resolutions
        metric: outcome:ticket_resolved
        tier_mode: volume
        tiers:
          - {up_to: 2, unit_price: "0.50"}
          - {up_to: 5, unit_price: "0.40"}
          - {unit_price: "0.30"}
      - {name: good-runs, metric: successful_runs, included: 3, unit_price: "0.05"}
  - name: basic
    charges:
      - name: calls
        metric: calls
        tiers:
          - {up_to: 20, unit_price: "0.01"}
          - {unit_price: "0.005"}
      - {name: input, metric: input_tokens, per: 1000, unit_price: "0.002", included: 100000}
      - {name: runs, metric: runs, unit_price: "0.10"}
"""
MODELS = ("gpt-4o", "gpt-4o-mini", "my-finetune")  # my-finetune: no price (unpriced)
CENT = Decimal("0.01")


@dataclass
class Month:
    events: list[Event]
    outcomes: list[Outcome]


def _generate(seed: int = 7) -> Month:
    """12 customers (pro and basic), runs of 1-4 events across November and its edges."""
    rng = random.Random(seed)
    events: list[Event] = []
    outcomes: list[Outcome] = []
    for c in range(12):
        customer, tier = f"cust-{c:02d}", "pro" if c % 2 == 0 else "basic"
        for r in range(rng.randint(3, 60)):
            run = f"{customer}-run-{r}"
            # a few runs just outside November must not count
            day = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=rng.randint(-30, 24 * 30 + 30))
            for step in range(rng.randint(1, 4)):
                model = rng.choice(MODELS)
                unpriced = model == "my-finetune"
                events.append(
                    Event(
                        model=model,
                        provider="openai",
                        workflow="support",
                        run_id=run,
                        customer_id=customer,
                        plan_tier=tier,
                        started_at=day + timedelta(seconds=step),
                        input_tokens=rng.randint(0, 4000),
                        output_tokens=rng.randint(0, 9000),
                        request_count=rng.choice((1, 1, 1, 2)),
                        status=rng.choice(("success", "success", "error")),
                        cost_usd=None if unpriced else Decimal(rng.randint(1, 90_000)) / 1_000_000,
                        unpriced=unpriced,
                    )
                )
            if rng.random() < 0.7:
                outcomes.append(
                    Outcome(
                        run_id=run,
                        workflow="support",
                        outcome=rng.choice(("ticket_resolved", "ticket_resolved", "escalated")),
                        success=rng.random() < 0.8,
                        customer_id=customer,
                        recorded_at=day + timedelta(seconds=10),
                    )
                )
    # usage with no customer is nobody's invoice
    events.append(Event(model="gpt-4o", provider="openai", started_at=datetime(2026, 11, 3, tzinfo=UTC)))
    return Month(events, outcomes)


def _cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _graduated(q: Decimal, tiers: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    total, lo = Decimal(0), Decimal(0)
    for up_to, p in tiers:
        hi = q if up_to is None else min(q, up_to)
        if hi > lo:
            total += (hi - lo) * p
        if up_to is None or q <= up_to:
            break
        lo = up_to
    return total


def _volume(q: Decimal, tiers: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    return next(q * p for up_to, p in tiers if up_to is None or q <= up_to)


def _expected(month: Month) -> dict[str, dict[str, Decimal]]:
    """Each customer's line amounts and total, from the raw events alone."""
    inside = [e for e in month.events if NOV.start <= e.started_at < NOV.end and e.customer_id]
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for e in inside:
        by_customer[str(e.customer_id)].append(e)
    run_outcomes: dict[str, list[Outcome]] = defaultdict(list)
    for o in month.outcomes:
        run_outcomes[o.run_id].append(o)
    out: dict[str, dict[str, Decimal]] = {}
    for customer, evs in by_customer.items():
        lines: dict[str, Decimal] = {}
        if evs[0].plan_tier == "pro":
            cost = sum((e.cost_usd for e in evs if not e.unpriced and e.cost_usd is not None), Decimal(0))
            lines["usage"] = _cents(cost * Decimal("1.25"))
            out_tok = sum(e.output_tokens for e in evs if e.model == "gpt-4o")
            lines["gpt4o-output"] = _cents(max(0, out_tok - 20000) * Decimal("8.00") / 1_000_000)
            resolved = sum(
                1
                for o in month.outcomes
                if o.customer_id == customer
                and o.success
                and o.outcome == "ticket_resolved"
                and NOV.start <= o.recorded_at < NOV.end
            )
            tiers = [(Decimal(2), Decimal("0.50")), (Decimal(5), Decimal("0.40")), (None, Decimal("0.30"))]
            lines["resolutions"] = _cents(_volume(Decimal(resolved), tiers))
            runs: dict[str, list[Event]] = defaultdict(list)
            for e in evs:
                runs[str(e.run_id)].append(e)
            good = 0
            for run, run_events in runs.items():
                if run_outcomes[run]:
                    good += any(o.success for o in run_outcomes[run])
                else:
                    good += max(run_events, key=lambda e: e.started_at).status == "success"
            lines["good-runs"] = _cents(max(0, good - 3) * Decimal("0.05"))
            subtotal = sum(lines.values(), Decimal(0))
            if subtotal < 4:
                lines["@minimum"] = Decimal("4.00") - subtotal
        else:
            calls = sum(e.request_count for e in evs)
            lines["calls"] = _cents(
                _graduated(Decimal(calls), [(Decimal(20), Decimal("0.01")), (None, Decimal("0.005"))])
            )
            inp = sum(e.input_tokens for e in evs)
            lines["input"] = _cents(max(0, inp - 100000) * Decimal("0.002") / 1000)
            lines["runs"] = _cents(len({e.run_id for e in evs}) * Decimal("0.10"))
        lines["total"] = sum(lines.values(), Decimal(0))
        out[customer] = lines
    return out


@pytest.fixture
def month(store: DuckDBStore) -> Month:
    m = _generate()
    store.append_events(m.events)
    store.append_outcomes(m.outcomes)
    return m


def test_invoice_totals_equal_an_independent_computation(store: DuckDBStore, month: Month) -> None:
    plans = PricePlans.from_yaml(PLANS)
    run = preview(store, plans, NOV)
    expected = _expected(month)
    assert sorted(i.customer_id for i in run.invoices) == sorted(expected)
    lines = [line for i in run.invoices for line in i.lines]
    # the month reaches every rule: the volume tiers above the first, the allowance, the minimum
    assert {s.tier for line in lines if line.charge == "resolutions" for s in line.priced.slices} >= {1, 2, 3}
    assert any(
        0 < line.priced.billable < line.priced.quantity for line in lines if line.charge == "gpt4o-output"
    )
    assert any(line.priced.billable == 0 < line.priced.quantity for line in lines if line.charge == "input")
    minimums = [i for i in run.invoices if any(line.charge == "@minimum" for line in i.lines)]
    assert 0 < len(minimums) < len([i for i in run.invoices if i.plan == "pro"])
    for invoice in run.invoices:
        want = expected[invoice.customer_id]
        got = {line.charge: line.amount for line in invoice.lines}
        assert got == {k: v for k, v in want.items() if k != "total"}, invoice.customer_id
        assert invoice.total == want["total"]
    assert run.total == sum(e["total"] for e in expected.values())


def test_every_lines_rows_sum_to_its_quantity(store: DuckDBStore, month: Month) -> None:
    plans = PricePlans.from_yaml(PLANS)
    checked = 0
    for invoice in preview(store, plans, NOV).invoices:
        for line in invoice.lines:
            if line.charge == "@minimum":
                continue
            rows = line_rows(store, plans, line.line_id)["rows"]
            assert sum((Decimal(r["quantity"]) for r in rows), Decimal(0)) == line.priced.quantity, (
                line.line_id
            )
            checked += bool(rows)
    assert checked > 30  # most of the 12 customers x 3-4 lines have rows behind them


def test_unpriced_usage_is_counted_never_billed_as_zero(store: DuckDBStore, month: Month) -> None:
    plans = PricePlans.from_yaml(PLANS)
    invoice = next(i for i in preview(store, plans, NOV).invoices if i.plan == "pro" and i.unpriced_events)
    usage = next(line for line in invoice.lines if line.charge == "usage")
    unpriced = [
        e
        for e in month.events
        if e.customer_id == invoice.customer_id and e.unpriced and NOV.start <= e.started_at < NOV.end
    ]
    assert usage.unpriced_events == len(unpriced) == invoice.unpriced_events
    body = invoice.as_dict()
    assert body["unpriced_events"] == len(unpriced)
    # the unpriced events are not behind the cost line: its rows are the priced events only
    rows = line_rows(store, plans, usage.line_id)["rows"]
    assert all(not r["unpriced"] for r in rows)


def test_an_all_unpriced_customer_has_no_cost_not_zero(store: DuckDBStore) -> None:
    at = datetime(2026, 11, 5, tzinfo=UTC)
    store.append_events(
        [Event(model="my-finetune", customer_id="solo", unpriced=True, started_at=at, output_tokens=10)]
    )
    plans = PricePlans.from_yaml(PLANS)
    (invoice,) = preview(store, plans, NOV, customer="solo").invoices
    assert invoice.cost is None and invoice.margin is None
    calls = next(line for line in invoice.lines if line.charge == "calls")
    assert calls.cost is None and calls.unpriced_events == 1
    assert calls.amount == Decimal("0.01")  # 1 call x $0.01 (the plan's price, not the cost)


def test_plan_versions_by_effective_date_and_customers_named(store: DuckDBStore) -> None:
    plans = PricePlans.from_yaml(
        """
plans:
  - {name: flat, charges: [{name: calls, metric: calls, unit_price: "1"}]}
  - {name: flat, effective_from: 2026-11-01, charges: [{name: calls, metric: calls, unit_price: "2"}]}
  - {name: vip, customers: [acme], charges: [{name: calls, metric: calls, unit_price: "0.5"}]}
default_plan: flat
"""
    )
    for month_start in (datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)):
        store.append_events(
            [
                Event(model="m", customer_id=c, started_at=month_start, cost_usd=Decimal(1))
                for c in ("acme", "b")
            ]
        )
    totals = {
        (p, i.customer_id): (i.plan_version, i.total)
        for p in ("2026-10", "2026-11")
        for i in preview(store, plans, Period.parse(p)).invoices
    }
    assert totals == {
        ("2026-10", "acme"): ("vip", Decimal("0.50")),
        ("2026-10", "b"): ("flat", Decimal("1.00")),
        ("2026-11", "acme"): ("vip", Decimal("0.50")),
        ("2026-11", "b"): ("flat@2026-11-01", Decimal("2.00")),
    }


def test_a_bad_line_id_names_the_fix(store: DuckDBStore, month: Month) -> None:
    plans = PricePlans.from_yaml(PLANS)
    with pytest.raises(InvoiceError, match="PERIOD:CUSTOMER:CHARGE"):
        line_rows(store, plans, "nonsense")
    with pytest.raises(InvoiceError, match="has no charge 'nope'; its charges"):
        line_rows(store, plans, "2026-11:cust-00:nope")
