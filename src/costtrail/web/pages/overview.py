"""Overview: where the money goes, at a glance."""

from __future__ import annotations

from costtrail.web.blocks import Page
from costtrail.web.pages.common import PageContext


def overview_page(ctx: PageContext) -> Page:
    return Page("Overview", [])
