"""CSV cells a spreadsheet will not run: OWASP's rule against formula (CSV) injection.

Any ingest key can plant a value such as ``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``
or ``@SUM(...)`` in a workflow, model or attribute; a spreadsheet that opens a
CSV download would run it. Every CSV costtrail writes (dashboard downloads, the
FOCUS export, ``--format csv`` in the CLI) passes each cell through
:func:`csv_cell`: a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return gets a leading ``'``, so it is read as text. A plain number
(``-0.25``, ``+1e-3``) is left alone: it cannot be a formula, and a credit must
stay a number.
"""

from __future__ import annotations

import re

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_cell(text: str) -> str:
    """``text`` safe to open in a spreadsheet.

    >>> csv_cell("=HYPERLINK(\\"http://x\\")"), csv_cell("-0.25"), csv_cell("support_reply")
    ('\\'=HYPERLINK("http://x")', '-0.25', 'support_reply')
    """
    if text.startswith(_TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
