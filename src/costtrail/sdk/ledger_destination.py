"""Writing SDK events straight into a local ledger (a DuckDB file by default)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from costtrail.schema import Event, Outcome

if TYPE_CHECKING:
    from costtrail.ledger.content import ContentRecord
    from costtrail.ledger.store import LedgerStore

log = logging.getLogger("costtrail.sdk")


class LedgerDestination:
    """Appends batches to a :class:`LedgerStore`, idempotent by ``event_id``.

    Given a URL it opens (and on close, closes) the store itself, in the
    writer thread that owns it; given a ``store`` it only writes to it.
    """

    def __init__(self, url: str | None = None, *, store: LedgerStore | None = None) -> None:
        if store is None:
            from costtrail.ledger.open import open_store  # the DuckDB driver loads in the writer thread

            store = open_store(url)
            self._owned = True
        else:
            self._owned = False
        self._store = store
        self._counts = {"duplicates": 0}

    @property
    def store(self) -> LedgerStore:
        return self._store

    def write_events(self, events: Sequence[Event]) -> None:
        result = self._store.append_events(events)
        self._counts["duplicates"] += result.duplicates

    def write_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        self._store.append_outcomes(outcomes)

    def write_content(self, records: Sequence[ContentRecord]) -> None:
        """Prompt/completion text (only sent when content storage is on) into the ``content`` table."""
        from costtrail.ledger.content import append_content

        append_content(self._store, records)

    def tick(self, deadline: float | None) -> None:
        return None

    def close(self, deadline: float) -> None:
        if self._owned:
            self._store.close()

    def stats(self) -> dict[str, int]:
        return dict(self._counts)
