"""The dashboard: server-rendered pages over the report API, served by the collector.

>>> from costtrail.web import mount_dashboard, KeyRingViewers
>>> mount_dashboard(app, settings, store, KeyRingViewers(ring))  # doctest: +SKIP
"""

from costtrail.web.app import Dashboard, mount_dashboard
from costtrail.web.sessions import KeyRingViewers, SessionSigner, Viewer, ViewerDirectory, demo_link

__all__ = [
    "Dashboard",
    "KeyRingViewers",
    "SessionSigner",
    "Viewer",
    "ViewerDirectory",
    "demo_link",
    "mount_dashboard",
]
