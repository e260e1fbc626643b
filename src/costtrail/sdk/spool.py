"""A disk spool: batches the collector could not take, kept as NDJSON files until they can be replayed.

One file per batch, written to a temporary name and renamed (a reader never
sees half a file). A sender claims a file by renaming it before sending, so
two processes sharing a spool folder do not send the same file at once; a
claim left by a process that died is released on the next start. Re-sending
is safe: ``event_id`` is the idempotency key and the collector drops duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("costtrail.sdk")

DEFAULT_SPOOL_DIR = Path("~/.costtrail/spool")
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024
_SUFFIX = ".ndjson"


def spool_folder(base: str | Path, endpoint: str) -> Path:
    """The spool folder for one collector: batches for one endpoint are never replayed to another."""
    digest = hashlib.sha256(endpoint.rstrip("/").encode()).hexdigest()[:12]
    return Path(base).expanduser() / digest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """NDJSON batch files in one folder, oldest first."""

    def __init__(self, folder: str | Path, *, max_bytes: int = DEFAULT_SPOOL_MAX_BYTES) -> None:
        self.folder = Path(folder).expanduser()
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._pid = os.getpid()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._release_stale_claims()

    def put(self, kind: str, records: list[dict[str, Any]]) -> bool:
        """Write one batch; False (and nothing written) when the spool is full."""
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
        if self.size_bytes() + len(data) > self.max_bytes:
            log.error(
                "costtrail: spool %s is full (%d bytes max); %d %s dropped",
                self.folder,
                self.max_bytes,
                len(records),
                kind,
            )
            return False
        name = f"{kind}-{time.time_ns():020d}-{self._pid}-{next(self._seq):06d}{_SUFFIX}"
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / name)
        return True

    def pending(self) -> list[Path]:
        """Unclaimed batch files, oldest first."""
        try:
            names = sorted(p for p in self.folder.iterdir() if p.name.endswith(_SUFFIX))
        except FileNotFoundError:
            return []
        return sorted(names, key=lambda p: p.name.split("-", 1)[1])

    def claim(self, path: Path) -> Path | None:
        claimed = path.with_name(f"{path.name}.{self._pid}.claimed")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            return None
        return claimed

    def release(self, claimed: Path) -> None:
        original = claimed.name.rsplit(".", 2)[0]
        with contextlib.suppress(FileNotFoundError):
            os.replace(claimed, claimed.with_name(original))

    @staticmethod
    def read(claimed: Path) -> tuple[str, list[dict[str, Any]]]:
        kind = claimed.name.split("-", 1)[0]
        records = [json.loads(line) for line in claimed.read_text().splitlines() if line.strip()]
        return kind, records

    @staticmethod
    def remove(claimed: Path) -> None:
        claimed.unlink(missing_ok=True)

    def size_bytes(self) -> int:
        total = 0
        for p in self.folder.iterdir():
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def count(self) -> int:
        return sum(1 for p in self.folder.iterdir() if p.name.endswith((_SUFFIX, ".claimed")))

    def _release_stale_claims(self) -> None:
        for p in self.folder.glob("*.claimed"):
            try:
                pid = int(p.name.rsplit(".", 2)[1])
            except (IndexError, ValueError):
                continue
            if pid == self._pid or not _pid_alive(pid):
                self.release(p)
