"""The dashboard's routes, mounted on the collector's app (same process, same keys).

``mount_dashboard(app, settings, store, directory)`` adds the pages at ``/``,
the sign-in pages and the static assets (Plotly's JavaScript comes from the
installed ``plotly`` package: nothing is loaded from another host).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from costtrail.billing import PricePlans, load_plans
from costtrail.finance.targets import UnitTargets, load_targets
from costtrail.ledger.store import LedgerStore
from costtrail.settings import Settings
from costtrail.web.assets import Assets
from costtrail.web.blocks import Chart, Headline, Notice, Page, Table, display, raw, table_csv
from costtrail.web.cache import LedgerVersionCache
from costtrail.web.filters import DIMENSIONS, RANGES, FilterError, Filters
from costtrail.web.pages import PAGES, PageContext, PageSpec
from costtrail.web.pages.context import filter_options, latest_event
from costtrail.web.querying import CountingStore, together
from costtrail.web.sessions import COOKIE_NAME, SessionSigner, Viewer, ViewerDirectory

# Data pages are private and always fresh; the browser may only talk to this server.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser posts this server's own forms with
    # ``Origin: null``, which the sign-in's same-origin check must refuse (another site's looks so).
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("costtrail.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(display=display, raw=raw, Chart=Chart, Table=Table, Headline=Headline, Notice=Notice)
    env.tests.update(
        chart=lambda b: isinstance(b, Chart),
        table=lambda b: isinstance(b, Table),
        metric=lambda b: isinstance(b, Headline),
        notice=lambda b: isinstance(b, Notice),
    )
    return env


CROSS_SITE = "This form was sent from another site: sign in from this dashboard's own page."


def same_origin(request: Request) -> bool:
    """False when a browser says the form came from another site (CSRF on sign-in and sign-out).

    Browsers send ``Sec-Fetch-Site`` with every request, and it decides. Older ones send
    ``Origin`` with a form POST (``null`` from an opaque origin, refused); ``Referer`` decides
    when ``Origin`` is missing. A client that sends none of them (curl, a script) is not a
    browser a forged form could drive.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(claimed).netloc.lower() == host.lower()


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not bounce the reader to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass
class Dashboard:
    """The dashboard of one app: its store, key directory, session signer and templates."""

    settings: Settings
    store: LedgerStore
    directory: ViewerDirectory
    signer: SessionSigner
    env: Environment
    assets: Assets
    cache: LedgerVersionCache
    controls_file: Path | None = None
    targets: UnitTargets | None = None
    plans: PricePlans | None = None
    # independent report calls of a page run side by side (see costtrail.web.querying)
    concurrent_queries: bool = True

    def viewer(self, request: Request) -> Viewer | None:
        token = request.cookies.get(COOKIE_NAME)
        key_id = self.signer.verify(token) if token else None
        return self.directory.lookup(key_id) if key_id else None

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(asset=self.assets.url, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def login_page(self, next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
        return self.render("login.html", status=status, next=_safe_next(next_path), error=error)

    def to_login(self, request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    def page_handler(self, spec: PageSpec) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            viewer = self.viewer(request)
            if viewer is None:
                return self.to_login(request)
            # the database work is blocking: keep it off the event loop the ingest API shares
            return await run_in_threadpool(self.serve_page, spec, request, viewer)

        return handle

    def serve_page(self, spec: PageSpec, request: Request, viewer: Viewer) -> Response:
        """Build (or reuse) one page for a signed-in viewer: HTML, or a table as CSV."""
        started = time.perf_counter()
        query = dict(request.query_params)
        store = CountingStore(self.store, parallel=self.concurrent_queries)
        version, latest = together(store, self.cache.version, lambda: latest_event(store, viewer.tenant_id))
        try:
            filters = Filters.from_query(query, latest=latest, tenant=viewer.tenant_id)
        except FilterError as exc:
            return self.render("error.html", status=400, message=str(exc), viewer=viewer)
        hints = {k: v for k, v in query.items() if k.startswith("hint_")}
        ctx = PageContext(
            store,
            self.settings,
            filters,
            viewer,
            dict(request.path_params),
            self.controls_file,
            hints,
            self.targets,
            self.plans,
        )
        key = (
            spec.name,
            tuple(sorted(ctx.path_params.items())),
            tuple(sorted(hints.items())),
            filters.since,
            filters.until,
            tuple(sorted(filters.values.items())),
            viewer.tenant_id,
        )
        download = query.get("download")

        def build() -> tuple[Page | None, bool]:
            if spec.cached:
                return self.cache.get(key, lambda: spec.build(ctx), version)
            return spec.build(ctx), False

        def options() -> dict[str, list[str]]:
            # the filter lists change only with the ledger: one cached query per ledger version
            found, _ = self.cache.get(
                ("options", viewer.tenant_id), lambda: filter_options(store, filters), version
            )
            return found

        if download is not None:
            (page, hit), choices = build(), {}
        else:
            (page, hit), choices = together(store, build, options)
        if page is None:
            return self.render("error.html", status=404, message="Nothing here.", viewer=viewer)
        if download is not None:
            return self._csv(page, download, spec.name)
        elapsed = (time.perf_counter() - started) * 1000
        response = self.render(
            "page.html",
            page=page,
            viewer=viewer,
            filters=filters,
            options=choices,
            dimensions=DIMENSIONS,
            ranges=RANGES,
            nav=[p for p in self._nav(version) if p.for_tenant_keys or viewer.tenant_id is None],
            active=spec.name,
            path=request.url.path,
            server_ms=elapsed,
            cached=hit,
            extra=hints,
        )
        total = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = (
            f'build;dur={total:.1f}, cache;desc="{"hit" if hit else "miss"}", '
            f'db;dur={store.seconds * 1000:.1f};desc="{store.queries} queries"'
        )
        return response

    def _nav(self, version: tuple[Any, ...]) -> list[PageSpec]:
        """The pages in the navigation (a page such as Finance appears once the ledger has its data)."""
        pages, _ = self.cache.get(
            ("nav",), lambda: [p for p in PAGES if p.nav and p.available(self.store)], version
        )
        return pages

    def focus(self, request: Request, viewer: Viewer) -> Response:
        """The reader's time range as a FOCUS 1.2 CSV download."""
        from costtrail.web.pages.finance import focus_csv

        try:
            filters = Filters.from_query(dict(request.query_params), latest=latest_event(self.store, None))
        except FilterError as exc:
            return self.render("error.html", status=400, message=str(exc), viewer=viewer)
        ctx = PageContext(
            self.store, self.settings, filters, viewer, {}, self.controls_file, targets=self.targets
        )
        headers = dict(SECURITY_HEADERS)
        headers["Content-Disposition"] = 'attachment; filename="costtrail-focus.csv"'
        return Response(focus_csv(ctx), media_type="text/csv; charset=utf-8", headers=headers)

    def _csv(self, page: Page, table_id: str, name: str) -> Response:
        table = page.tables().get(table_id)
        if table is None:
            return Response(f"no table {table_id!r} on this page\n", status_code=404, media_type="text/plain")
        headers = dict(SECURITY_HEADERS)
        headers["Content-Disposition"] = f'attachment; filename="costtrail-{name}-{table_id}.csv"'
        return Response(table_csv(table), media_type="text/csv; charset=utf-8", headers=headers)


def mount_dashboard(
    app: FastAPI,
    settings: Settings,
    store: LedgerStore,
    directory: ViewerDirectory,
    *,
    signer: SessionSigner | None = None,
    controls_file: Path | None = None,
    plans: PricePlans | None = None,
) -> Dashboard:
    """Serve the dashboard from ``app`` at ``/`` (sign-in at ``/login``).

    ``controls_file`` (the budgets YAML) adds budget gauges; alerts come from the ledger.
    ``settings.targets`` (a units file, see :mod:`costtrail.finance.targets`) sets the cost per
    outcome targets; a bad file raises :class:`~costtrail.finance.targets.TargetsError`.
    ``plans`` (else ``settings.plans``, see :mod:`costtrail.billing`) adds invoices to the Billing page.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from fastapi import FastAPI
    >>> from costtrail.auth import KeyRing
    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> from costtrail.web.sessions import KeyRingViewers
    >>> app, store = FastAPI(), DuckDBStore(":memory:")
    >>> ring = KeyRing(Path(tempfile.mkdtemp()) / "keys.json", secret=b"s" * 32)
    >>> dashboard = mount_dashboard(app, Settings(ledger=":memory:"), store, KeyRingViewers(ring))
    >>> store.close()
    """
    dash = Dashboard(
        settings,
        store,
        directory,
        signer or SessionSigner(),
        _templates(),
        Assets(),
        LedgerVersionCache(store),
        controls_file,
        load_targets(settings.targets),
        plans=plans if plans is not None else load_plans(settings.plans),
    )

    async def login_form(request: Request) -> Response:
        next_path = _safe_next(request.query_params.get("next"))
        if dash.viewer(request) is not None:
            return RedirectResponse(next_path, status_code=303)
        return dash.login_page(next_path)

    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0].strip()
        next_path = _safe_next((form.get("next") or ["/"])[0])
        if not same_origin(request):
            return dash.login_page(next_path, CROSS_SITE, status=403)
        throttle = getattr(request.app.state, "auth_throttle", None)
        client = request.client.host if request.client else "unknown"
        viewer = dash.directory.identify(key) if key else None
        if viewer is None:
            # Only a failed sign-in waits: a valid key is let in whatever others guessed before.
            wait = throttle.retry_after(client) if throttle is not None else 0
            if wait:
                page = dash.login_page(next_path, f"Too many failed sign-ins: wait {wait} s.", status=429)
                page.headers["Retry-After"] = str(wait)
                return page
            if throttle is not None:
                throttle.failed(client)
            expired = dash.directory.expired(key) if key else None
            if expired is not None:
                message = f"That key expired at {expired}: create a new one with costtrail keys create."
                return dash.login_page(next_path, message, status=401)
            return dash.login_page(next_path, "That key cannot read this dashboard.", status=401)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            dash.signer.issue(viewer.key_id),
            max_age=dash.signer.lifetime,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="strict",
            path="/",
        )
        return response

    async def logout(request: Request) -> Response:
        if not same_origin(request):
            return dash.login_page("/", CROSS_SITE, status=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    app.add_api_route("/login", login_form, methods=["GET"], include_in_schema=False)
    app.add_api_route("/login", login, methods=["POST"], include_in_schema=False)
    app.add_api_route("/logout", logout, methods=["POST"], include_in_schema=False)
    app.add_api_route("/assets/{name}", dash.assets.handler, methods=["GET"], include_in_schema=False)
    for spec in PAGES:
        app.add_api_route(spec.path, dash.page_handler(spec), methods=["GET"], include_in_schema=False)

    async def focus_download(request: Request) -> Response:
        viewer = dash.viewer(request)
        if viewer is None:
            return dash.to_login(request)
        if viewer.tenant_id is not None:
            return Response(
                "FOCUS export is for keys of every tenant\n", status_code=403, media_type="text/plain"
            )
        return await run_in_threadpool(dash.focus, request, viewer)

    app.add_api_route("/finance/focus.csv", focus_download, methods=["GET"], include_in_schema=False)
    app.state.dashboard = dash
    return dash
