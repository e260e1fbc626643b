"""CLI tests reuse the hand-made ledger of tests/reports (reports_dataset.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_REPORTS = str(Path(__file__).resolve().parents[1] / "reports")
if _REPORTS not in sys.path:
    sys.path.insert(0, _REPORTS)
