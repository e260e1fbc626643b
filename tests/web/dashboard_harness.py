"""Helpers for the dashboard tests: the server in a thread, browser helpers, artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from costtrail.auth import KeyRing
from costtrail.ledger.duckdb_store import DuckDBStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass(frozen=True)
class Keys:
    read: str
    tenant_acme: str
    ingest: str


@dataclass
class Served:
    base: str
    store: DuckDBStore
    keys: Keys
    ring: KeyRing

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc


@dataclass
class Browser:
    """One Chromium with a fresh profile; every request it makes is logged."""

    context: Any
    requests: list[str] = field(default_factory=list)


def login(page: Any, served: Served, key: str, next_path: str = "/") -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{served.base}/login?{urlencode({'next': next_path})}")
    page.fill("#key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("load")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_charts(page: Any) -> dict[str, dict[str, int]]:
    """Wait until every chart on the page is drawn; per chart id: traces sent, in plot, drawn in SVG."""
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.plot')).every(el => el.dataset.rendered === '1')"
    )
    charts: list[dict[str, Any]] = page.evaluate(
        """() => Array.from(document.querySelectorAll('.plot')).map(el => ({
            id: el.id.replace(/^chart-/, ''),
            expected: Number(el.dataset.traces),
            data: el.data.length,
            svg: el.querySelectorAll('svg.main-svg').length,
            drawn: el.querySelectorAll('g.trace').length,
        }))"""
    )
    return {c.pop("id"): c for c in charts}


def cell_values(page: Any, table_id: str, column: str) -> list[str]:
    """The exact values (``data-value``) of one column of a table on the page."""
    values: list[str] = page.eval_on_selector_all(
        f"#table-{table_id} td[data-col='{column}']", "cells => cells.map(c => c.dataset.value)"
    )
    return values


def metric_value(page: Any, metric_id: str) -> str:
    value: str = page.get_attribute(f"#metric-{metric_id}", "data-value")
    return value
