"""``make bench``: run every ``bench/bench_*.py`` module's ``main()`` in turn and print a summary.

Each bench prints its own figures and records them in bench/RESULTS.md by hand
(its own section); this runner only runs them, so one command measures all.

    python -m bench.run_all [--only reports,pricing]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def bench_modules() -> list[str]:
    """The bench modules present, in name order (``bench_pricing`` -> ``pricing``)."""
    here = Path(__file__).resolve().parent
    return sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="run every bench/bench_*.py")
    parser.add_argument("--only", default="", help="comma-separated topics, e.g. reports,pricing")
    args = parser.parse_args(argv)
    argv0 = list(sys.argv)
    wanted = {t.strip() for t in args.only.split(",") if t.strip()}
    results: dict[str, Any] = {}
    for topic in bench_modules():
        if wanted and topic not in wanted:
            continue
        print(f"\n=== bench_{topic} ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.bench_{topic}")
            sys.argv = [f"bench_{topic}"]  # benches that parse arguments get their defaults
            results[topic] = module.main()
        except Exception:
            traceback.print_exc()
            results[topic] = {"error": "failed (traceback above)"}
        print(f"=== bench_{topic}: {time.perf_counter() - started:.0f} s ===", flush=True)
    sys.argv = argv0
    failed = [t for t, r in results.items() if isinstance(r, dict) and "error" in r]
    print(f"\nran {len(results)} benches" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return results


if __name__ == "__main__":
    main()
