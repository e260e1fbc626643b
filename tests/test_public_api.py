"""Every package's ``__all__`` is exactly what it exports, derived from the package itself.

As httpx's test_exported_members.py does: a public name imported into a package's
``__init__`` is in its ``__all__``, and nothing else is. Submodules are reached by
import, not exported.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import costtrail

INCLUDED_PRIVATE = {"__version__"}


def _packages() -> list[str]:
    found = [costtrail.__name__]
    for info in pkgutil.walk_packages(costtrail.__path__, prefix="costtrail."):
        if info.ispkg:
            found.append(info.name)
    return found


def _ours(value: object) -> bool:
    """Defined in costtrail (a class, a function) or a plain value (a constant): not a helper import."""
    module = getattr(value, "__module__", None)
    return not isinstance(value, ModuleType) and (
        not isinstance(module, str) or module == "costtrail" or module.startswith("costtrail.")
    )


def _exported(package: ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(package).items()
        if (not name.startswith("_") or name in INCLUDED_PRIVATE)
        and _ours(value)
        and name not in ("annotations", "TYPE_CHECKING")  # from __future__, from typing
    )


@pytest.mark.parametrize("name", _packages())
def test_all_is_exactly_what_the_package_exports(name: str) -> None:
    package = importlib.import_module(name)
    exported = _exported(package)
    if not hasattr(package, "__all__"):
        assert exported == [], f"{name} exports names but has no __all__"
        return
    assert [n for n in exported if n not in package.__all__] == [], f"{name}: public but not in __all__"
    assert [n for n in package.__all__ if not hasattr(package, n)] == [], f"{name}: __all__ names nothing"
    assert len(set(package.__all__)) == len(package.__all__)


def test_the_top_level_api_is_the_sdk() -> None:
    assert callable(costtrail.configure) and callable(costtrail.instrument)
    assert {"configure", "run", "step", "record", "outcome", "instrument"} <= set(costtrail.__all__)
