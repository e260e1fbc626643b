"""Shared fixtures: real stores, nothing mocked that runs on this machine."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from costtrail.ledger.duckdb_store import DuckDBStore

# A dependency (lago-python-client) installs a top-level ``tests`` package; being a regular package
# it would win over this folder (a namespace package) in ``from tests.collector.conftest import ...``.
_TESTS = Path(__file__).resolve().parent
if not str(getattr(sys.modules.get("tests"), "__file__", None) or _TESTS).startswith(str(_TESTS)):
    del sys.modules["tests"]
if "tests" not in sys.modules:
    _package = types.ModuleType("tests")
    _package.__path__ = [str(_TESTS)]
    sys.modules["tests"] = _package


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    yield s
    s.close()
