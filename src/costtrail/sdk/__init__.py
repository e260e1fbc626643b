"""SDK: run/step context, instrumented provider clients, record(), outcome(), a background writer.

The public names are re-exported by :mod:`costtrail`; see docs/sdk.md.
"""

from costtrail.sdk.api import (
    check_budget,
    configure,
    enforce_budgets,
    flush,
    get_recorder,
    instrument,
    outcome,
    record,
    run,
    shutdown,
    stats,
    step,
)
from costtrail.sdk.config import SdkSettings, make_sink
from costtrail.sdk.context import Run, Step, current_attribution, current_run_id
from costtrail.sdk.ledger_destination import LedgerDestination
from costtrail.sdk.recorder import Recorder
from costtrail.sdk.sink import Destination, EventSink, QueuedSink

__all__ = [
    "Destination",
    "EventSink",
    "LedgerDestination",
    "QueuedSink",
    "Recorder",
    "Run",
    "SdkSettings",
    "Step",
    "check_budget",
    "configure",
    "current_attribution",
    "current_run_id",
    "enforce_budgets",
    "flush",
    "get_recorder",
    "instrument",
    "make_sink",
    "outcome",
    "record",
    "run",
    "shutdown",
    "stats",
    "step",
]
