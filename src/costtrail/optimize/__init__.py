"""Optimization: what-if repricing, the cheapest model that clears an eval gate, audit, drift, forecast.

See docs/controls.md. Everything here reads the ledger through the store protocol only.
"""

from costtrail.optimize.audit import Audit, audit
from costtrail.optimize.cheapest import CheapestResult, cheapest_model
from costtrail.optimize.evals import EvalResult, import_evals, parse_eval_file, read_evals
from costtrail.optimize.traffic import TrafficScope, reprice_llm, summarize
from costtrail.optimize.trends import drift, forecast, series
from costtrail.optimize.whatif import WhatIf, what_if

__all__ = [
    "Audit",
    "CheapestResult",
    "EvalResult",
    "TrafficScope",
    "WhatIf",
    "audit",
    "cheapest_model",
    "drift",
    "forecast",
    "import_evals",
    "parse_eval_file",
    "read_evals",
    "reprice_llm",
    "series",
    "summarize",
    "what_if",
]
