"""Path parameters that take any text: run ids and invoice line ids are the user's strings.

Starlette's ``path`` convertor is ``.*``, which stops at a newline: a run id with
one (accepted at ingest) could never be read back, and the route answered 404
before the key was checked. :func:`text_param` spells a parameter that matches
every character, ``/`` included (the convertor is registered on import).

>>> text_param("run_id")
'{run_id:text}'
>>> import re
>>> re.fullmatch(AnyText.regex, "run/1\\n2") is not None
True
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class AnyText(Convertor[str]):
    """Any non-empty text, slashes and line breaks included."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("text", AnyText())


def text_param(name: str) -> str:
    """A path parameter ``name`` that takes any text."""
    return "{" + name + ":text}"
