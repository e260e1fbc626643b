"""The demo's cost-per-outcome targets: a units file sized on the simulated ledger.

A product team sets what one successful outcome may cost. The demo writes one
target per outcome that has successes, set around what the outcome actually
cost so the dashboard shows both verdicts: the busiest outcome (the resolved
support ticket) a little over its target, the others within theirs.
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from costtrail.finance.period import Period
from costtrail.finance.unit_economics import cost_per_outcome
from costtrail.ledger.store import LedgerStore

STEP = Decimal("0.0001")
OVER = Decimal("0.85")  # the busiest outcome costs ~18% more than its target
WITHIN = Decimal("1.30")


def demo_targets(store: LedgerStore, period: Period) -> dict[str, Decimal]:
    """Target USD per successful outcome for each outcome with successes in ``period``."""
    d = store.dialect
    rows = store.query(
        f"SELECT outcome, count(*) AS n FROM {d.final('outcomes')} WHERE success "
        "GROUP BY outcome ORDER BY n DESC, outcome"
    )
    targets: dict[str, Decimal] = {}
    for i, row in enumerate(rows):
        actual = cost_per_outcome(store, str(row["outcome"]), period).cost_per_outcome
        if actual is None or actual <= 0:
            continue
        factor, rounding = (OVER, ROUND_FLOOR) if i == 0 else (WITHIN, ROUND_CEILING)
        targets[str(row["outcome"])] = max(STEP, (actual * factor).quantize(STEP, rounding=rounding))
    return targets


def demo_targets_yaml(store: LedgerStore, period: Period) -> str:
    """The demo's targets file (the units file `costtrail serve --targets` and `unit-cost --config` read)."""
    lines = [
        "# What one successful outcome may cost (USD). Read by `costtrail serve --targets FILE`",
        "# (the Features & customers page) and `costtrail unit-cost OUTCOME --config FILE`.",
        "units:",
    ]
    for name, target in demo_targets(store, period).items():
        # a JSON string is a YAML string: any outcome name stays one key
        lines += [f"  {json.dumps(name)}:", f'    target_usd: "{target}"', "    drift_factor: 1.25"]
    return "\n".join(lines) + "\n"
