"""The error file: one JSON line per row that was not recorded, in input order.

It is created before anything is sent (so a missing directory or an existing file stops the command first), with an
exclusive, no-follow open. An existing file is replaced only when it is the one an earlier run of the same job wrote
(the journal remembers its device and inode; at the default name, a file of error records counts as such) or with
``--force``; the input file and the journal are never replaced.
A run with no failed row removes the file it created, so a clean run leaves none.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Optional

from ._files import FileRefused, create_new, lstat, same_file, stat_target


def _looks_like_ours(path: Path) -> bool:
    """An error file starts with a JSON object holding ``line`` and ``status`` (or is empty)."""
    try:
        with path.open("rb") as stream:
            first = stream.readline(1 << 20)
    except OSError:
        return False
    if not first.strip():
        return True
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "line" in record and "status" in record


class ErrorFile:
    """Writes error records; see the module docstring for how it is opened."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: Optional[int] = fd
        self.stat = os.fstat(fd)
        self.count = 0
        self.replaced: Optional[os.stat_result] = None
        """The earlier file this one replaced, if any."""

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        force: bool,
        owned: Callable[[os.stat_result], bool],
        protected: dict[str, Optional[os.stat_result]],
        default_name: bool = False,
    ) -> ErrorFile:
        """Create the error file at ``path``.

        Args:
            path: Where.
            force: Replace an existing file that no earlier run of this job wrote.
            owned: Whether an existing file is the one an earlier run of this job wrote.
            protected: Files that are never replaced, by what they are (``"the input file"``: its stat).
            default_name: ``path`` is the command's own default name (not an ``--errors`` the user gave): a file
                there that holds error records is taken as an earlier run's, even without a journal (stdin).

        Raises:
            FileRefused: the file cannot or must not be created.
        """
        target = stat_target(path)
        for what, guarded in protected.items():
            if same_file(target, guarded) or same_file(lstat(path), guarded):
                raise FileRefused(f"the error file {path} is {what}; choose another --errors path")
        existing = lstat(path)
        if existing is not None:
            ours = stat.S_ISREG(existing.st_mode) and (owned(existing) or default_name) and _looks_like_ours(path)
            if not (ours or force):
                raise FileRefused(
                    f"the error file {path} already exists and no earlier run of this job wrote it; "
                    "move it away, choose another --errors path, or pass --force to replace it"
                )
            if stat.S_ISDIR(existing.st_mode):
                raise FileRefused(f"the error file {path} is a directory")
            try:
                os.unlink(path)  # a link is removed itself, never its target
            except OSError as exc:
                raise FileRefused(f"cannot replace the error file {path}: {exc.strerror or exc}") from None
        created = cls(path, create_new(path))
        created.replaced = existing
        return created

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        if self._fd is None:
            return
        data = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.count += 1

    def close(self) -> bool:
        """Close it; remove it when no record was written (only if it is still the file created). True if kept."""
        if self._fd is None:
            return self.count > 0
        os.close(self._fd)
        self._fd = None
        if self.count == 0:
            if same_file(lstat(self.path), self.stat):
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            return False
        return True
