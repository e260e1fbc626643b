"""The dashboard: server-rendered pages over the report API, served by the collector.

The collector mounts it (see :func:`mount_dashboard`)::

    mount_dashboard(app, settings, store, KeyRingViewers(ring))
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
