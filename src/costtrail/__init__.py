"""costtrail: an open-source AI cost ledger.

>>> import costtrail
>>> recorder = costtrail.configure(ledger=":memory:", environment="dev")
>>> with costtrail.run("support_reply", customer_id="c-42") as run:
...     event_id = costtrail.record("retrieval", query_count=2, tool_name="vector_search")
>>> costtrail.flush(timeout=60)
True
>>> costtrail.shutdown()
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from costtrail.sdk.api import check_budget, enforce_budgets

    __version__: str

# The SDK and the version (read from the package metadata) are loaded on first use, so a command
# line tool that imports one costtrail package (the CLI, a report) pays for neither.
_LAZY = {
    "BudgetExceeded": "costtrail.controls.gate",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("costtrail")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
        globals()[name] = value
        return value
    if name in __all__:
        value = getattr(import_module(_LAZY.get(name, "costtrail.sdk")), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'costtrail' has no attribute {name!r}")


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
