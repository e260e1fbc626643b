"""Billing importers: provider exports and invoices normalized to cost lines.

Each importer names the row and column of malformed input and is idempotent:
re-importing the same file stores nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from costtrail.importers.anthropic_api import import_anthropic_costs, import_anthropic_usage
from costtrail.importers.aws_cur import import_aws_cur
from costtrail.importers.focus import import_focus
from costtrail.importers.generic_csv import ColumnMapping, MappingError, import_generic_csv
from costtrail.importers.openai_api import import_openai_costs, import_openai_usage
from costtrail.importers.parsing import ImportFormatError
from costtrail.importers.result import ImportResult

if TYPE_CHECKING:
    from costtrail.ledger.store import LedgerStore

IMPORT_KINDS: tuple[str, ...] = (
    "focus",
    "openai-costs",
    "openai-usage",
    "anthropic-costs",
    "anthropic-usage",
    "aws-cur",
    "csv",
)


def import_file(kind: str, path: Path, store: LedgerStore, *, mapping: Path | None = None) -> ImportResult:
    """Import one billing file of ``kind`` (one of :data:`IMPORT_KINDS`)."""
    if kind == "csv":
        if mapping is None:
            raise MappingError("a generic CSV needs a column mapping file: --mapping mapping.yaml")
        return import_generic_csv(path, mapping, store)
    importers = {
        "focus": import_focus,
        "openai-costs": import_openai_costs,
        "openai-usage": import_openai_usage,
        "anthropic-costs": import_anthropic_costs,
        "anthropic-usage": import_anthropic_usage,
        "aws-cur": import_aws_cur,
    }
    if kind not in importers:
        raise ValueError(f"unknown import kind {kind!r}: use one of {', '.join(IMPORT_KINDS)}")
    return importers[kind](path, store)


__all__ = [
    "IMPORT_KINDS",
    "ColumnMapping",
    "ImportFormatError",
    "ImportResult",
    "MappingError",
    "import_anthropic_costs",
    "import_anthropic_usage",
    "import_aws_cur",
    "import_file",
    "import_focus",
    "import_generic_csv",
    "import_openai_costs",
    "import_openai_usage",
]
