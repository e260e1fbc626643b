"""The demo's price plans: every simulated customer billed from the ledger, one invoice shown.

Free customers pay cost plus 40%; pro customers cost plus 25%, a fee per resolved ticket
past an allowance and a $5 minimum; enterprise customers cost plus 15%, per extracted
document in volume tiers and a $25 minimum; anyone else (the internal tenant) is on the
default plan.
"""

from __future__ import annotations

from typing import Any

from costtrail.billing import PricePlans, preview
from costtrail.finance.period import Period
from costtrail.ledger.store import LedgerStore

PLANS_FILE = "costtrail-demo-plans.yaml"
DEMO_PLANS = """\
default_plan: free
plans:
  - name: free
    plan_tier: free
    charges:
      - {name: usage, metric: cost, markup_pct: 40}
  - name: pro
    plan_tier: pro
    minimum_usd: "5.00"
    charges:
      - {name: usage, metric: cost, markup_pct: 25}
      - {name: resolved-tickets, metric: "outcome:ticket_resolved", included: 5, unit_price: "0.50"}
  - name: enterprise
    plan_tier: enterprise
    minimum_usd: "25.00"
    charges:
      - {name: usage, metric: cost, markup_pct: 15}
      - name: extracted-documents
        metric: "outcome:fields_extracted"
        tier_mode: volume
        tiers:
          - {up_to: 20, unit_price: "0.40"}
          - {unit_price: "0.25"}
"""


def demo_billing(store: LedgerStore, period: Period) -> dict[str, Any]:
    """Invoice every customer of ``period`` on the demo plans; in full, the invoice of the paying
    customer that costs the most to serve."""
    run = preview(store, PricePlans.from_yaml(DEMO_PLANS, source="demo plans"), period)
    paying = [i for i in run.invoices if i.plan != "free" and i.cost is not None]
    biggest = max(paying, key=lambda i: (i.cost or 0, i.customer_id), default=None)
    return {
        "period": run.period,
        "invoices": len(run.invoices),
        "customers_without_plan": list(run.without_plan),
        "total": run.total,
        "invoice": biggest.as_dict() if biggest is not None else None,
    }
