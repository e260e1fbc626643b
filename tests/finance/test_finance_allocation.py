"""Allocation: pools conserved to the cent (property test), unallocated lines, reruns, rule errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costtrail.allocation import AllocationRuleError, allocate, load_rules, parse_rules, split_amount
from costtrail.finance import Period
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import CostLine, CostLineKind, Event

OCT = Period.parse("2026-10")
T0 = datetime(2026, 10, 5, 12, tzinfo=UTC)


def _events(store: DuckDBStore, spec: list[tuple[str | None, int]]) -> None:
    """One retrieval event per (customer, query_count)."""
    store.append_events(
        [
            Event(
                kind="retrieval",
                customer_id=c,
                query_count=q,
                team="support",
                started_at=T0 + timedelta(minutes=i),
            )
            for i, (c, q) in enumerate(spec)
        ]
    )


def _pool(store: DuckDBStore, amount: str, provider: str = "vectordb-cloud") -> None:
    store.append_cost_lines(
        [
            CostLine(
                kind=CostLineKind.SHARED,
                source="invoice",
                provider=provider,
                billed_cost=Decimal(amount),
                charge_period_start=OCT.start,
                charge_period_end=OCT.end,
                tags={"customer": "acme"} if provider == "tagged" else {},
            )
        ]
    )


RULE = {
    "id": "vdb",
    "owner": "platform",
    "review_by": "2027-01-01",
    "pool": {"lines": {"provider": "vectordb-cloud"}},
    "signal": "query_count",
    "target": "customer",
    "method": "proportional",
}


def _rows(store: DuckDBStore) -> list[dict[str, object]]:
    return store.query(
        "SELECT kind, target_value, billed_cost, signal_quantity, ratio, confidence, rule_id "
        "FROM cost_lines WHERE kind IN ('allocated', 'unallocated') ORDER BY kind, target_value"
    )


def test_proportional_split_by_queries_with_provenance(store: DuckDBStore) -> None:
    _events(store, [("acme", 600), ("globex", 300), ("initech", 100)])
    _pool(store, "1000.00")
    run = allocate(store, parse_rules({"rules": [RULE]}), OCT)
    rows = _rows(store)
    assert [(r["target_value"], r["billed_cost"]) for r in rows] == [
        ("acme", Decimal("600.00")),
        ("globex", Decimal("300.00")),
        ("initech", Decimal("100.00")),
    ]
    assert rows[0]["signal_quantity"] == Decimal(600) and rows[0]["ratio"] == Decimal("0.6")
    assert {r["confidence"] for r in rows} == {"medium"} and {r["rule_id"] for r in rows} == {"vdb"}
    assert run.outcomes[0].pool == run.outcomes[0].allocated == Decimal("1000.00")


def test_remainder_cents_go_deterministically_and_pool_is_conserved(store: DuckDBStore) -> None:
    _events(store, [("a", 1), ("b", 1), ("c", 1)])
    _pool(store, "100.00")
    allocate(store, parse_rules({"rules": [RULE]}), OCT)
    assert [r["billed_cost"] for r in _rows(store)] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def test_zero_signal_gives_an_unallocated_line(store: DuckDBStore) -> None:
    _events(store, [("acme", 0)])
    _pool(store, "250.00")
    run = allocate(store, parse_rules({"rules": [RULE]}), OCT)
    rows = _rows(store)
    assert len(rows) == 1
    assert rows[0]["kind"] == "unallocated" and rows[0]["billed_cost"] == Decimal("250.00")
    assert run.outcomes[0].unallocated == Decimal("250.00")
    desc = store.query("SELECT charge_description FROM cost_lines WHERE kind = 'unallocated'")
    assert desc[0]["charge_description"] == "signal is zero in the period: nothing to allocate by"


def test_signal_without_target_is_shown_unallocated(store: DuckDBStore) -> None:
    _events(store, [("acme", 3), (None, 1)])
    _pool(store, "10.00")
    allocate(store, parse_rules({"rules": [RULE]}), OCT)
    rows = {(r["kind"], r["target_value"]): r["billed_cost"] for r in _rows(store)}
    assert rows == {("allocated", "acme"): Decimal("7.50"), ("unallocated", None): Decimal("2.50")}


def test_rerun_replaces_the_periods_allocations(store: DuckDBStore) -> None:
    _events(store, [("acme", 1), ("globex", 1)])
    _pool(store, "10.00")
    rules = parse_rules({"rules": [RULE]})
    allocate(store, rules, OCT)
    second = allocate(store, rules, OCT)
    assert second.replaced == 2
    assert len(_rows(store)) == 2
    total = store.query(
        "SELECT sum(billed_cost) AS s FROM cost_lines WHERE kind IN ('allocated','unallocated')"
    )
    assert total[0]["s"] == Decimal("10.00")


def test_even_overhead_direct_methods(store: DuckDBStore) -> None:
    _events(store, [("acme", 1), ("globex", 5)])
    _pool(store, "90.00", provider="tagged")
    rules = parse_rules(
        {
            "rules": [
                {**RULE, "id": "even", "pool": {"fixed_usd": "10.00"}, "method": "even", "signal": "even"},
                {
                    "id": "obs",
                    "owner": "sre",
                    "review_by": "2027-01-01",
                    "pool": {"fixed_usd": "300.00"},
                    "target": "team",
                    "method": "overhead",
                    "shares": {"support": 50, "search": "33.3"},
                },
                {
                    "id": "tagged",
                    "owner": "fin",
                    "review_by": "2027-01-01",
                    "pool": {"lines": {"provider": "tagged"}},
                    "target": "customer",
                    "method": "direct",
                    "tag": "customer",
                },
            ]
        }
    )
    run = allocate(store, rules, OCT)
    by_rule = {o.rule_id: o for o in run.outcomes}
    assert by_rule["even"].allocated == Decimal("10.00") and by_rule["even"].targets == 2
    assert by_rule["obs"].allocated == Decimal("249.90") and by_rule["obs"].unallocated == Decimal("50.10")
    assert by_rule["tagged"].allocated == Decimal("90.00")
    conf = {(ln.rule_id, ln.target_value): ln.confidence for ln in run.lines}
    assert conf[("tagged", "acme")] == "high" and conf[("obs", "support")] == "low"


def test_line_in_two_pools_is_refused(store: DuckDBStore) -> None:
    _pool(store, "5.00")
    rules = parse_rules({"rules": [RULE, {**RULE, "id": "again"}]})
    with pytest.raises(AllocationRuleError, match=r"in the pools of rules 'vdb' and 'again'"):
        allocate(store, rules, OCT)


def _rule_yaml(**fields: str) -> str:
    base = {"id": "vdb", "owner": "x", "review_by": "2027-01-01", "pool": "{fixed_usd: 5}", "target": "team"}
    base["method"] = "even"
    base.update(fields)
    body = "".join(f"    {k}: {v}\n" for k, v in base.items() if v != "")
    return "rules:\n  -" + body[3:]


def test_rule_errors_name_file_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    cases = [
        ({"target": "planet"}, r"rules.yaml: rule vdb, field \(rule\): target 'planet' is not one of"),
        ({"review_by": "someday"}, r"rules.yaml: rule vdb, field review_by"),
        ({"pool": "{lines: {colour: red}}"}, r"field pool: unknown cost-line filter colour"),
        ({"owner": ""}, r"rule vdb, field owner: Field required"),
        ({"method": "overhead"}, r"an overhead rule needs shares"),
    ]
    for fields, message in cases:
        path.write_text(_rule_yaml(**fields))
        with pytest.raises(AllocationRuleError, match=message):
            load_rules(path)


money = st.decimals(min_value=Decimal("-5000"), max_value=Decimal("100000"), places=2, allow_nan=False)
weights = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=25)


@given(amount=money, ws=weights)
def test_split_amount_conserves_exactly(amount: Decimal, ws: list[int]) -> None:
    if sum(ws) == 0:
        ws = [*ws, 1]
    keys = [f"k{i:03d}" for i in range(len(ws))]
    parts = split_amount(amount, [Decimal(w) for w in ws], keys)
    assert sum(parts) == amount
    for part, w in zip(parts, ws, strict=True):
        exact = amount * Decimal(w) / Decimal(sum(ws))
        assert abs(part - exact) < Decimal("0.01")
    assert parts == split_amount(amount, [Decimal(w) for w in ws], keys)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pools=st.lists(money, min_size=1, max_size=3),
    signal=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d", None]), st.integers(0, 5000)), max_size=12
    ),
)
def test_allocation_conserves_every_pool_to_the_cent(
    pools: list[Decimal], signal: list[tuple[str | None, int]]
) -> None:
    with DuckDBStore(":memory:") as store:
        _events(store, signal)
        rules = []
        for i, amount in enumerate(pools):
            _pool(store, str(amount), provider=f"p{i}")
            rules.append({**RULE, "id": f"r{i}", "pool": {"lines": {"provider": f"p{i}"}}})
        run = allocate(store, parse_rules({"rules": rules}), OCT)
        for i, amount in enumerate(pools):
            rows = store.query(
                "SELECT kind, sum(billed_cost) AS s, count(*) AS n FROM cost_lines "
                f"WHERE rule_id = 'r{i}' GROUP BY kind"
            )
            total = sum((r["s"] for r in rows), Decimal(0))
            assert total == amount
            if amount != 0 and sum(q for c, q in signal) == 0:
                assert [r["kind"] for r in rows] == ["unallocated"]
        assert all(o.pool == o.allocated + o.unallocated for o in run.outcomes)
