"""The ledger's per-event money limit, through ``costtrail ingest`` and ``costtrail report``.

DECIMAL(18, 12) holds at most $999,999.999999999999 per event, so an event that prices at
exactly $1,000,000 or more cannot be stored as a cost: it is flagged unpriced with the reason,
never stored as a smaller or zero number (docs/pricing.md, "Money").
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from costtrail.cli.main import app as cli
from costtrail.ledger import open_store

runner = CliRunner()
# gpt-4o input is $2.50 per million tokens: 400,000,000,000 tokens x $2.50 / 1e6 = $1,000,000 exactly,
# and 399,999,999,600 tokens = $999,999.999 (a tenth of a cent under the limit).
AT_LIMIT = 400_000_000_000
UNDER_LIMIT = 399_999_999_600


def _event(event_id: str, tokens: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": tokens,
        "started_at": "2026-06-01T10:00:00Z",
    }


def test_exactly_one_million_dollars_is_flagged_just_under_is_priced(tmp_path: Path) -> None:
    assert calc_price(Usage(input_tokens=AT_LIMIT), "gpt-4o", provider_id="openai").total_price == Decimal(
        1_000_000
    )
    under = calc_price(Usage(input_tokens=UNDER_LIMIT), "gpt-4o", provider_id="openai").total_price
    assert under == Decimal("999999.999")
    events = tmp_path / "events.ndjson"
    events.write_text(
        "\n".join(json.dumps(e) for e in (_event("at", AT_LIMIT), _event("under", UNDER_LIMIT)))
    )
    ledger = str(tmp_path / "ledger.duckdb")

    result = runner.invoke(cli, ["ingest", str(events), "--ledger", ledger, "--format", "json"])
    assert result.exit_code == 0, result.output

    store = open_store(ledger)
    try:
        rows = {
            r["event_id"]: r
            for r in store.query("SELECT event_id, cost_usd, unpriced, price_ref FROM events")
        }
    finally:
        store.close()
    assert rows["under"]["unpriced"] is False and rows["under"]["cost_usd"] == under
    assert rows["at"]["unpriced"] is True and rows["at"]["cost_usd"] is None
