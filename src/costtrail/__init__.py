"""costtrail: an open-source AI cost ledger.

>>> import costtrail
>>> recorder = costtrail.configure(ledger=":memory:", environment="dev")
>>> with costtrail.run("support_reply", customer_id="c-42") as run:
...     event_id = costtrail.record("retrieval", query_count=2, tool_name="vector_search")
>>> costtrail.flush()
True
>>> costtrail.shutdown()
"""

from importlib.metadata import PackageNotFoundError, version

from costtrail.controls.gate import BudgetExceeded
from costtrail.sdk import (
    EventSink,
    Recorder,
    Run,
    SdkSettings,
    Step,
    configure,
    flush,
    get_recorder,
    instrument,
    make_sink,
    outcome,
    record,
    run,
    shutdown,
    stats,
    step,
)
from costtrail.sdk.enforcement import check_budget, enforce_budgets

try:
    __version__ = version("costtrail")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "BudgetExceeded",
    "EventSink",
    "Recorder",
    "Run",
    "SdkSettings",
    "Step",
    "__version__",
    "check_budget",
    "configure",
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
