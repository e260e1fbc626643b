"""Read questions answered from a ledger: here (:class:`LocalReader`) or through a collector's read
API (:class:`RemoteReader`), with the same answer either way, so a command is written once.

Each question (:data:`costtrail.reader.questions.QUESTIONS`) takes JSON-able arguments and
returns JSON-able data (with exact ``Decimal`` and ``datetime`` values); :mod:`codec` carries
those types over HTTP unchanged.
"""

from costtrail.reader.base import Reader, ReadFailed
from costtrail.reader.local import LocalReader

__all__ = ["LocalReader", "ReadFailed", "Reader"]
