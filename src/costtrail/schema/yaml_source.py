"""Pointing at the place in a YAML file that a validation error is about.

Rate cards, controls and allocation rules are YAML validated by pydantic; an
error should name the file, the line and the entry, not just a field path.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class ExactLoader(yaml.SafeLoader):
    """A SafeLoader (no arbitrary objects) reading numbers with a decimal point as exact Decimals,
    so ``limit_usd: 1.10`` is exactly $1.10."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except ArithmeticError:
        return float(loader.construct_yaml_float(node))


ExactLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def read_source(path: str | Path, error: type[Exception], what: str) -> str:
    """The text of a YAML file, or ``error`` naming the file and why it cannot be read."""
    p = Path(path)
    try:
        return p.read_text()
    except OSError as exc:
        raise error(f"{p}: cannot read the {what} ({exc.strerror})") from exc


def parse_mapping(
    text: str,
    source: str,
    error: type[Exception],
    shape: str,
    *,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
    empty_ok: bool = True,
) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The composed node tree (for :func:`line_of`) and the data of a YAML mapping.

    Raises ``error`` for invalid YAML, or with ``shape`` (what the file should look
    like) when the document is not a mapping; an empty file is ``{}`` if ``empty_ok``.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from exc
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{source}: {shape}")
    return node, data


def line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` that exists in the composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def path_text(loc: list[Any], data: Any, *, name_key: str, default: str) -> str:
    """``budgets[1] (name 'x').period``: a field path that names list entries by ``name_key``."""
    out, cur = "", data
    for part in loc:
        if isinstance(part, int):
            cur = cur[part] if isinstance(cur, list) and part < len(cur) else None
            out += f"[{part}]"
            if isinstance(cur, dict) and cur.get(name_key):
                out += f" ({name_key} {cur[name_key]!r})"
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
            out += f".{part}" if out else str(part)
    return out or default


def describe_errors(
    exc: ValidationError,
    data: dict[str, Any],
    node: yaml.Node | None,
    source: str,
    *,
    title: str,
    default: str,
    name_key: str = "name",
    in_path: Callable[[Any], bool] = lambda part: True,
    explain: Callable[[str, list[Any]], str | None] = lambda kind, loc: None,
) -> str:
    """``title`` and one ``file:line: field.path: message`` line per validation error.

    ``in_path`` keeps the parts of pydantic's error location that are the YAML's own (not a
    union member's name); ``explain(error type, location)`` may replace pydantic's message with
    one that names the fix.
    """
    out = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if in_path(part)]
        line = line_of(node, loc)
        where = path_text(loc, data, name_key=name_key, default=default)
        msg = explain(err["type"], loc) or str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{source}:{line}: {where}: {msg}" if line else f"{source}: {where}: {msg}")
    return f"{title}\n  " + "\n  ".join(out)
