"""Install the FinOps Foundation's focus-validator in its own venv (.venv-focus/) and find it.

focus-validator pins old dependencies (numpy<2, its own duckdb and polars) and
needs Python >= 3.12, so it lives apart from the project's venv and is run as
a subprocess. ``python tests/finance/finance_focus_venv.py`` (``make focus-validator``)
creates it; the FOCUS export test calls :func:`validator` and creates it too
when it is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-focus"
VERSION = "2.2.1"  # validates FOCUS 1.2 from the rule model it ships (no download)
# focus-validator 2.2.1 pins numpy<2; pyarrow 20+ needs numpy 2.
PINS = (f"focus-validator=={VERSION}", "pyarrow<20")
STAMP = VENV / f".installed-{VERSION}"


def _works(python: str) -> bool:
    """True when ``python`` runs and is 3.12 or newer (a pyenv shim of an inactive version fails)."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 12))"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _python312() -> str | None:
    # 3.12 first: focus-validator's numpy<2 pin has wheels for 3.12, not for 3.13 (a long source build).
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [found for name in ("python3.12", "python3.13") if (found := shutil.which(name))]
    for version in ("3.12", "3.13", "3.14"):
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"{version}*", "bin", "python3")))
    return next((c for c in candidates if _works(c)), None)


def ensure() -> Path:
    """The focus-validator executable, installing it first if needed."""
    exe = VENV / "bin" / "focus-validator"
    if STAMP.exists() and exe.exists():
        return exe
    python = _python312()
    if python is None:
        raise RuntimeError(
            "focus-validator needs Python >= 3.12 and none was found (looked for python3.12+ on PATH and "
            "in pyenv's versions): install one, then run `make focus-validator`"
        )
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *PINS], check=True)
    STAMP.write_text(VERSION + "\n")
    return exe


def site_packages() -> Path:
    """Where the validator's package lies: it opens its currency table by a relative path from there."""
    (path,) = glob.glob(str(VENV / "lib" / "python3.*" / "site-packages"))
    return Path(path)


if __name__ == "__main__":
    print(ensure())
    sys.exit(0)
