"""A store wrapper that keeps the SQL it was asked, to see which plan a report ran."""

from __future__ import annotations

from typing import Any


class SqlRecorder:
    """Forwards everything to ``inner`` and keeps each ``query`` SQL in ``sql``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sql: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def query(self, sql: str) -> list[dict[str, Any]]:
        self.sql.append(sql)
        rows: list[dict[str, Any]] = self.inner.query(sql)
        return rows
