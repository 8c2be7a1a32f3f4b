"""The journal beside an input file: what each run sent and what came back, so a re-run can say what it charged.

The server answers a replayed Idempotency-Key exactly like the first recording (no replay marker), so a re-run alone
cannot tell a new charge from a replay. The journal can: before a row's first request leaves, a ``s`` record (sent)
is written; as soon as the row's outcome is known, ``r`` (recorded), ``f`` (not applied: refused or never reached
the server) or ``u`` (unknown). A kill loses at most the records of rows in flight, which stay ``s``. On the next
run, a recorded answer for a row

* that an earlier run saw recorded is a **replay** (charged then, not again);
* that an earlier run sent without learning the outcome (``s`` or ``u``) is **unattributed**: charged exactly once,
  by that run or this one, and no one can tell which;
* that no earlier run sent, or whose earlier sends were all refused, is a **new charge**.

Correctness never depends on the journal: every row's key derives from its event id, so a run without it records
nothing twice either. Records hold a 64-bit hash of the key, never the key or row data. Each run starts a section
naming the server and realm; sections of another server or realm are ignored. Records reach the operating system
with one ``write`` each, so they survive a kill of the process (not a power cut).

The journal is opened without following links and appended to only when it starts with the journal's first line;
one run at a time holds it (an advisory lock); a concurrent run goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Literal, Optional

from ._files import FileRefused, create_new, open_existing

_MAGIC = b"vluna-journal 1\n"
_READ_LIMIT = 1 << 16

Attribution = Literal["new", "replayed", "unattributed"]
# How sure a state is that the row was applied: r (recorded) beats m (maybe: sent or unknown) beats f (not applied).
_RANK = {"f": 0, "m": 1, "r": 2}


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock, runs are not guarded against each other
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class JournalBusy(Exception):
    """Another run of the same file holds the journal."""


class Journal:
    """The journal of one input file for one server and realm (see the module docstring)."""

    def __init__(self, path: Path, fd: int, earlier: dict[int, str], owned: set[tuple[int, int]]) -> None:
        self.path = path
        self._fd: Optional[int] = fd
        self._earlier = earlier
        self._owned = owned
        self.broken: Optional[str] = None
        """Why the journal stopped being written (a full disk...); attribution then ends for this run."""

    @classmethod
    def open(cls, path: Path, *, base_url: str, realm_id: str) -> Journal:
        """Open (or create) the journal and start this run's section.

        Raises:
            FileRefused: it is a link, not a regular file, or not a journal.
            JournalBusy: another run holds it.
        """
        try:
            fd = create_new(path)
            created = True
        except FileRefused:
            fd = open_existing(path)
            created = False
        try:
            if not _lock(fd):
                raise JournalBusy(f"another run of this file holds {path}")
            if created:
                os.write(fd, _MAGIC)
                earlier: dict[int, str] = {}
                owned: set[tuple[int, int]] = set()
            else:
                earlier, owned = _load(fd, path, base_url=base_url, realm_id=realm_id)
            header = {"base_url": base_url, "realm_id": realm_id, "pid": os.getpid(), "at": round(time.time())}
            os.write(fd, b"@ " + json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, earlier, owned)

    # -- what earlier runs did ---------------------------------------------------------------------------------

    def attribute(self, key: Optional[str]) -> Attribution:
        """How a recorded answer for ``key`` counts, from what earlier runs wrote."""
        state = self._earlier.get(_digest(key)) if key else None
        if state == "r":
            return "replayed"
        if state == "m":
            return "unattributed"
        return "new"

    def owns(self, st: os.stat_result) -> bool:
        """Whether an earlier run of this job created the file with this device and inode (and left it)."""
        return (st.st_dev, st.st_ino) in self._owned

    # -- what this run does ------------------------------------------------------------------------------------

    def sending(self, key: str) -> None:
        """Before the first request of the row with ``key`` leaves."""
        self._write(f"s {_digest(key):016x}\n")

    def settled(self, key: Optional[str], status: str) -> None:
        """As soon as the row's outcome is known."""
        if not key:
            return
        letter = {"recorded": "r", "unknown": "u"}.get(status, "f")
        self._write(f"{letter} {_digest(key):016x}\n")

    def error_file(self, st: os.stat_result, *, kept: bool) -> None:
        """This run created (``kept``) or removed again an error file."""
        self._write(f"{'E' if kept else 'X'} {st.st_dev} {st.st_ino}\n")

    def close(self) -> None:
        """Close (and unlock) the journal."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, line: str) -> None:
        if self._fd is None or self.broken is not None:
            return
        try:
            os.write(self._fd, line.encode("ascii"))
        except OSError as exc:
            self.broken = f"the journal {self.path} could not be written ({exc.strerror or exc})"


def _lines(fd: int) -> Any:
    os.lseek(fd, 0, os.SEEK_SET)
    pending = b""
    while True:
        block = os.read(fd, _READ_LIMIT)
        if not block:
            break
        pending += block
        *complete, pending = pending.split(b"\n")
        yield from complete
    # A last line without its newline was cut by a kill mid-write: it is ignored.


def _load(fd: int, path: Path, *, base_url: str, realm_id: str) -> tuple[dict[int, str], set[tuple[int, int]]]:
    os.lseek(fd, 0, os.SEEK_SET)
    if os.read(fd, len(_MAGIC)) != _MAGIC:
        raise FileRefused(f"{path} exists and is not a vluna journal; move it away or pass --no-journal")
    combined: dict[int, str] = {}
    run: dict[int, str] = {}
    owned: set[tuple[int, int]] = set()
    relevant = False

    def fold() -> None:
        for digest, letter in run.items():
            state = "m" if letter in ("s", "u") else letter
            before = combined.get(digest)
            if before is None or _RANK[state] > _RANK[before]:
                combined[digest] = state
        run.clear()

    lines = _lines(fd)
    next(lines, None)  # the magic line
    for raw in lines:
        kind, _, rest = raw.partition(b" ")
        if kind == b"@":
            fold()
            try:
                header = json.loads(rest)
            except ValueError:
                relevant = False
                continue
            relevant = isinstance(header, dict) and (header.get("base_url"), header.get("realm_id")) == (
                base_url,
                realm_id,
            )
        elif kind in (b"E", b"X"):
            parts = rest.split()
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                entry = (int(parts[0]), int(parts[1]))
                if kind == b"E":
                    owned.add(entry)
                else:
                    owned.discard(entry)
        elif relevant and kind in (b"s", b"r", b"f", b"u") and len(rest) == 16:
            try:
                digest = int(rest, 16)
            except ValueError:
                continue
            letter = kind.decode("ascii")
            # Within one run the last word counts, except that a recorded row stays recorded.
            if run.get(digest) != "r":
                run[digest] = letter
    fold()
    os.lseek(fd, 0, os.SEEK_END)
    return combined, owned
