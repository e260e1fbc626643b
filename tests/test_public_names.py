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


# An UPPER_CASE constant written with the same value in two modules is one constant written
# twice (``CENT = Decimal("0.01")`` in six modules): it belongs in the lowest module both can
# import. These are the same on purpose.
ALLOWED_CONSTANTS = {
    "T": "a module's own TypeVar",
    "M": "a module's own TypeVar",
    "FORMAT": "each CLI command module's --format option",
    "LEDGER": "each CLI command module's --ledger option",
    "READ": "each collector route module's read-scope dependency",
    "OTHER": "the label of what is left over, in a metric and in a chart",
    "METRICS_KEY": "the fake provider speaks Bedrock's wire format without reading costtrail's",
    "DEFAULT_MAX_OUTPUT": "the fake provider's own default, not the gateway's estimate",
}


def constant_definitions(root: Path) -> dict[tuple[str, str], list[str]]:
    """Top-level UPPER_CASE assignments, by name and value, with the modules that make them."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id.isupper() and not target.id.startswith("_"):
                found[(target.id, ast.unparse(value))].append(path.relative_to(root).as_posix())
    return found


def test_a_constant_is_defined_in_one_module() -> None:
    twice = {
        name: modules
        for (name, _), modules in constant_definitions(SRC).items()
        if len(modules) > 1 and name not in ALLOWED_CONSTANTS
    }
    assert twice == {}, "the same constant in more than one module (import it from the lowest one)"


def test_the_constant_check_finds_one_written_twice(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('CENT = Decimal("0.01")\nMICRO = Decimal("0.000001")\n')
    (tmp_path / "b.py").write_text('CENT = Decimal("0.01")\nMICRO: Decimal = Decimal("1e-6")\n_x = 1\n')
    assert {k: v for k, v in constant_definitions(tmp_path).items() if len(v) > 1} == {
        ("CENT", "Decimal('0.01')"): ["a.py", "b.py"]
    }


def test_the_constant_allow_list_holds_only_constants_still_written_twice() -> None:
    twice = {name for (name, _), modules in constant_definitions(SRC).items() if len(modules) > 1}
    assert set(ALLOWED_CONSTANTS) - twice == set()
