"""Static files: the dashboard's CSS/JS and Plotly's bundled ``plotly.min.js``.

Plotly's JavaScript is read from the installed ``plotly`` package (so the
dashboard works offline and never asks a CDN), gzipped once on first use and
served with a versioned URL so browsers cache it.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from importlib import resources

import plotly
from fastapi import Request
from fastapi.responses import Response

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def _read(name: str) -> bytes:
    if name == "plotly.min.js":
        return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return (resources.files("costtrail.web") / "static" / name).read_bytes()


@dataclass
class Assets:
    """Serves the few static files; contents are cached per app after the first request."""

    names: tuple[str, ...] = ("plotly.min.js", "dashboard.css", "dashboard.js")
    _cache: dict[str, tuple[bytes, bytes, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self, name: str) -> tuple[bytes, bytes, str]:
        with self._lock:
            if name not in self._cache:
                body = _read(name)
                self._cache[name] = (body, gzip.compress(body, 6), hashlib.sha256(body).hexdigest()[:12])
            return self._cache[name]

    def url(self, name: str) -> str:
        version = plotly.__version__ if name == "plotly.min.js" else self._load(name)[2]
        return f"/assets/{name}?v={version}"

    async def handler(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.names:
            return Response("not found\n", status_code=404, media_type="text/plain")
        body, zipped, etag = self._load(name)
        headers = {
            "Cache-Control": "public, max-age=86400",
            "ETag": f'"{etag}"',
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        media = _TYPES[name[name.rfind(".") :]]
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(zipped, media_type=media, headers=headers)
        return Response(body, media_type=media, headers=headers)
