"""One of each: a public class or function is defined in one module of ``costtrail`` only.

Two modules that define the same public name either repeat one piece of code
(make it one) or hold two different things under one name (name them for what
they are). The allow-list holds the names every module of one kind defines on
purpose, as an interface.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import costtrail

SRC = Path(costtrail.__file__).parent

ALLOWED = {
    "register": "each CLI command module's hook, called by cli/main.py",
    "main": "a runnable module's entry point (cli/main.py, python -m costtrail.demo.fake_provider)",
    "serve": "each door's foreground server: collector.server.serve, gateway.server.serve",
}


def public_definitions(root: Path) -> dict[str, list[str]]:
    """Top-level public classes and functions, by name, with the modules that define them."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node in body:
            if isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            ) and not node.name.startswith("_"):
                found[node.name].append(path.relative_to(root).as_posix())
    return found


def test_a_public_name_is_defined_in_one_module() -> None:
    twice = {
        name: modules
        for name, modules in public_definitions(SRC).items()
        if len(modules) > 1 and name not in ALLOWED
    }
    assert twice == {}, "defined in more than one module (make it one, or name each for what it is)"


def test_the_check_finds_a_name_defined_twice(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("class Call:\n    pass\n\ndef _private() -> None: ...\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "c.py").write_text("def Call() -> None: ...\n\ndef _private() -> None: ...\n")
    assert {k: v for k, v in public_definitions(tmp_path).items() if len(v) > 1} == {
        "Call": ["a.py", "b/c.py"]
    }


def test_the_allow_list_holds_only_names_still_defined_twice() -> None:
    found = public_definitions(SRC)
    assert {name for name in ALLOWED if len(found.get(name, [])) < 2} == set()
