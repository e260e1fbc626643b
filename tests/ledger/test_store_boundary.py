"""The store boundary: code outside ``ledger/`` never asks which store (or dialect) it has.

The import contract in pyproject.toml keeps the store classes out of reach;
this test catches what imports cannot show: a dialect's name compared, a
class name compared, or a method looked up around the ``LedgerStore`` protocol.
"""

from __future__ import annotations

import re
from pathlib import Path

import costtrail

PACKAGE = Path(costtrail.__file__).parent
FORBIDDEN = {
    "a dialect's name compared": re.compile(r"dialect\.name\s*[!=]=|[!=]=\s*\w*\.?dialect\.name"),
    "a class name compared": re.compile(r"__name__\s*[!=]=\s*[\"'](?!__main__)|[\"']\w+Store[\"']\s*[!=]="),
    "a store's method looked up by name": re.compile(r"getattr\(\s*(self\.)?_?store\b"),
    "a store class checked": re.compile(r"isinstance\([^)]*\b(DuckDBStore|ClickHouseStore)\b"),
    "a table created outside the schema registry": re.compile(
        r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP\w*\s+)?TABLE", re.I
    ),
}


def offences(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "ledger":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(root)}:{number}: {what}: {line.strip()}")
    return found


def test_nothing_outside_ledger_asks_which_store_it_has() -> None:
    assert offences(PACKAGE) == []


def test_the_scan_sees_each_kind_of_check(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "ledger").mkdir()
    (tmp_path / "reports" / "bad.py").write_text(
        'if dialect.name == "clickhouse": pass\n'
        'if type(inner).__name__ == "DuckDBStore": pass\n'
        'execute = getattr(store, "execute")\n'
        "if isinstance(store, DuckDBStore): pass\n"
        'store.execute("CREATE TABLE IF NOT EXISTS notes (a INT)")\n'
        'if __name__ == "__main__": pass\n'
    )
    (tmp_path / "ledger" / "fine.py").write_text('if dialect.name == "clickhouse": pass\n')
    kinds = [line.split(": ")[1] for line in offences(tmp_path)]
    assert kinds == [
        "a dialect's name compared",
        "a class name compared",
        "a store's method looked up by name",
        "a store class checked",
        "a table created outside the schema registry",
    ]
