"""Start-up: how long a person waits for ``costtrail --help`` and ``costtrail report``.

Each figure is the wall time of a fresh process, timed side by side in the same
run against the baseline: a process that only imports Typer and Rich (what any
Typer + Rich command line pays before it does anything). Interleaved, median of
``--runs``. ``report`` runs on a demo ledger (``costtrail demo``, built once in a
temporary folder). Goals: ``--help`` at most 2x the baseline, ``report`` at most 5x.

    python -m bench.bench_startup [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOALS = {"help": 2.0, "report": 5.0, "version": 2.0}
BASELINE = [sys.executable, "-c", "import typer, rich.console, rich.table"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "costtrail.cli.main", *args]


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def measure(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, Any]:
    """Median wall time of each command and of the baseline, interleaved run by run."""
    times: dict[str, list[float]] = {name: [] for name in ["baseline", *commands]}
    for cmd in [BASELINE, *commands.values()]:
        _wall(cmd, env)  # warm the file cache once
    for _ in range(runs):
        times["baseline"].append(_wall(BASELINE, env))
        for name, cmd in commands.items():
            times[name].append(_wall(cmd, env))
    base = statistics.median(times["baseline"])
    out: dict[str, Any] = {}
    for name in commands:
        value = statistics.median(times[name])
        out[name] = {
            "value": round(value, 3),
            "unit": "s",
            "baseline": round(base, 3),
            "ratio": round(value / base, 2),
            "runs": runs,
            "goal": f"<= {GOALS[name]}x import typer + rich",
        }
    return out


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100"}
    with tempfile.TemporaryDirectory() as tmp:
        ledger = str(Path(tmp) / "demo.duckdb")
        subprocess.run(
            _cli("demo", "--ledger", ledger, "--fresh"),
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=tmp,
        )
        figures = measure(
            {
                "help": _cli("--help"),
                "version": _cli("--version"),
                "report": _cli("report", "--by", "workflow", "--ledger", ledger),
            },
            args.runs,
            env,
        )
    for name, fig in figures.items():
        print(f"{name:8} {fig['value']:.3f} s  baseline {fig['baseline']:.3f} s  ratio {fig['ratio']}x")
    return figures


if __name__ == "__main__":
    main()
