"""The reader interface: ``ask(question, **args)`` answers a read question from some ledger."""

from __future__ import annotations

from typing import Any, Protocol


class ReadFailed(Exception):
    """A question could not be answered; the message says why and how to fix it.

    ``kind`` is ``"input"`` (a bad argument), ``"not_found"`` or ``"unavailable"`` (no ledger,
    no collector); ``field`` names the argument at fault when one is.
    """

    def __init__(self, message: str, kind: str = "input", *, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field


class Reader(Protocol):
    def ask(self, question: str, **args: Any) -> Any:
        """The answer to ``question`` (see ``costtrail.reader.questions``); raises :class:`ReadFailed`."""
        ...

    def close(self) -> None: ...
