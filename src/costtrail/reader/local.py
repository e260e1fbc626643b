"""Questions answered from a ledger opened here, read-only."""

from __future__ import annotations

from typing import Any

from costtrail.ledger import LedgerError, LedgerLockedError, LedgerStore, open_store
from costtrail.reader import codec
from costtrail.reader.base import ReadFailed

LOCKED_ADVICE = (
    "To read while the collector runs, read through it: add --endpoint http://HOST:PORT and "
    "--api-key KEY (a read key: costtrail keys create --scope read), or set COSTTRAIL_ENDPOINT "
    "and COSTTRAIL_API_KEY."
)


class LocalReader:
    """A read-only ledger (``ledger`` is a path or URL, as ``--ledger`` takes)."""

    def __init__(self, ledger: str) -> None:
        try:
            self.store: LedgerStore = open_store(ledger, read_only=True)
        except LedgerLockedError as exc:
            raise ReadFailed(f"{exc} {LOCKED_ADVICE}", "unavailable") from exc
        except LedgerError as exc:
            raise ReadFailed(str(exc), "unavailable") from exc

    def ask(self, question: str, **args: Any) -> Any:
        from costtrail.reader.questions import answer

        # through the same JSON as a remote answer: the same values either way
        return codec.loads(codec.dumps(answer(self.store, question, args)))

    def close(self) -> None:
        self.store.close()
