"""Make docs/img/overview.png: the dashboard's overview page on the demo ledger, in headless Chromium.

    python scripts/screenshot_overview.py [--out docs/img/overview.png] [--days 30]

Runs ``costtrail demo`` into a temporary ledger, serves it with the collector
app (demo key, loopback only), signs in through the demo's ready link and saves
a screenshot. Needs Debian's chromium (/usr/bin/chromium; see .ci/system-deps).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from costtrail.auth import KeyRing
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings
from costtrail.web import demo_link

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main(out: Path, days: int) -> Path:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        ledger = str(Path(tmp) / "demo.duckdb")
        costtrail = shutil.which("costtrail", path=str(Path(sys.executable).parent)) or "costtrail"
        subprocess.run([costtrail, "demo", "--ledger", ledger, "--fresh", "--days", str(days)], check=True)
        store = DuckDBStore(ledger)
        keys = KeyRing(Path(tmp) / "keys.json", secret=b"screenshot-only-secret-0123456789", demo=True)
        app = create_app(Settings(ledger=ledger), store, keys=keys)
        # the demo writes its budgets beside the ledger (as `costtrail serve --controls FILE` reads)
        app.state.dashboard.controls_file = Path(tmp) / "costtrail-demo-controls.yaml"
        with BackgroundServer(app) as server, sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=ARGS,
                viewport={"width": 1400, "height": 900},
            )
            page = context.new_page()
            page.goto(demo_link(server.url))
            page.wait_for_url(f"{server.url}/")
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('.plot')).every(e => e.dataset.rendered === '1')"
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            context.close()
        store.close()
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "overview.png")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    main(args.out, args.days)
