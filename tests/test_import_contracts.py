"""The import contracts in pyproject.toml hold, and they catch a cycle hidden in a function.

``make lint`` runs ``lint-imports``; here it runs on a copy of the package with one
deliberate late import that closes a cycle across the layers, which must fail it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import costtrail

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(where), "PATH": str(Path(sys.executable).parent)},
    )


def test_a_function_level_import_up_the_layers_fails_lint(tmp_path: Path) -> None:
    shutil.copytree(Path(costtrail.__file__).parent, tmp_path / "costtrail")
    assert _lint(tmp_path).returncode == 0  # the copy as it is keeps every contract
    events = tmp_path / "costtrail" / "schema" / "events.py"
    late = "def _late() -> object:\n    from costtrail.collector import create_app\n\n    return create_app\n"
    events.write_text(events.read_text() + "\n\n" + late)
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "costtrail.schema.events -> costtrail.collector" in done.stdout, done.stdout
