"""Every example in the package's docstrings runs, and passes: docs that cannot drift.

A docstring example that cannot run here (it serves forever, or needs a network) is
written as a plain code block, not as a ``>>>`` example that is skipped.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import costtrail

SRC = Path(costtrail.__file__).parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules() -> list[str]:
    names = [costtrail.__name__]
    for info in pkgutil.walk_packages(costtrail.__path__, prefix="costtrail."):
        if not info.name.endswith(".__main__"):  # running it is what starts a process
            names.append(info.name)
    return names


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder().find(module) if t.examples]


@pytest.mark.parametrize("name", [n for n in _modules() if _examples(n)])
def test_docstring_examples_pass(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An example that opens an in-memory ledger still writes its keys file beside "the ledger":
    # in the working directory. Keep that out of the checkout.
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _examples(name):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted and failed == 0, f"{failed} of {attempted} examples of {name} failed (output above)"


def test_no_example_is_skipped() -> None:
    skipped = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "doctest: +SKIP" in line
    ]
    assert skipped == [], "write these as code blocks, or make them run"
