"""A small checkpoint beside the input file, used only to tell replayed rows from new ones.

Correctness never depends on it: every row's Idempotency-Key derives from its event id, so a re-run without the
checkpoint records nothing twice either. The server answers a replay exactly like the first recording, so without
the checkpoint a re-run could not say which rows were recorded before; with it, every row of the recorded prefix
that comes back recorded is counted as ``replayed``.

It holds one number, the last line of the run of rows (from the top of the file) that are all known recorded, so it
stays a few hundred bytes for any file size. It applies only to the same file (size and modification time), realm,
server and key namespace.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Optional

_SAVE_EVERY_S = 1.0


class Checkpoint:
    """Tracks the recorded prefix of one input file and saves it now and then (atomically).

    Args:
        path: The checkpoint file.
        identity: What must match for an old checkpoint to apply (file size and mtime, realm, server, namespace).
    """

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self._identity = identity
        self.known_through = self._load()
        """Rows up to this line were recorded by an earlier run (0: none known)."""
        self._through = 0
        self._cap: Optional[int] = None
        self._broken = False
        self._last_save = 0.0

    def _load(self) -> int:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        if not isinstance(saved, dict) or saved.get("identity") != self._identity:
            return 0
        through = saved.get("recorded_through")
        return through if isinstance(through, int) and through > 0 else 0

    def stop_at(self, line: int) -> None:
        """A row at ``line`` will not be recorded (it was refused while reading): the prefix ends before it."""
        self._cap = line if self._cap is None else min(self._cap, line)

    def seen(self, line: int, recorded: bool) -> None:
        """Rows arrive in input order: extend the prefix while they are all recorded."""
        if self._broken:
            return
        if not recorded or (self._cap is not None and line > self._cap):
            self._broken = True
            return
        self._through = line
        if time.monotonic() - self._last_save >= _SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        """Write the checkpoint (never shrinking what an earlier run proved)."""
        self._last_save = time.monotonic()
        # Rows an earlier run recorded stay recorded, even when this run stopped before reaching them.
        through = max(self._through, self.known_through)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"identity": self._identity, "recorded_through": through}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a checkpoint is a convenience: a read-only directory must not fail the import


def identity(source: Path, *, realm_id: str, base_url: str, namespace: str) -> Optional[dict[str, Any]]:
    """The identity of a regular input file, or ``None`` when it cannot have a checkpoint (stdin, a pipe)."""
    try:
        stat = source.stat()
    except OSError:
        return None
    if not source.is_file():
        return None
    return {
        "file": str(source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "realm_id": realm_id,
        "base_url": base_url,
        "namespace": namespace,
    }
