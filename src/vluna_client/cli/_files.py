"""Opening the files the CLI writes without ever following a link or replacing a file it did not create."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional

# Not every platform has these flags (Windows has neither); 0 leaves the open as it is there.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class FileRefused(Exception):
    """A file the command would write is unsafe to touch (exists, is a link, is the input...): a usage error."""


def create_new(path: Path) -> int:
    """Create ``path`` for writing; it must not exist (not even as a dangling symlink). Returns the descriptor.

    Raises:
        FileRefused: it exists, its directory is missing, or it cannot be created.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    try:
        return os.open(path, flags, 0o644)
    except FileExistsError:
        raise FileRefused(f"{path} already exists") from None
    except FileNotFoundError:
        raise FileRefused(f"the directory of {path} does not exist") from None
    except OSError as exc:
        raise FileRefused(f"cannot create {path}: {exc.strerror or exc}") from None


def open_existing(path: Path) -> int:
    """Open an existing regular file for reading and appending, never through a symlink.

    Raises:
        FileRefused: it is a symlink or not a regular file, or cannot be opened.
    """
    flags = os.O_RDWR | os.O_APPEND | _NOFOLLOW | _CLOEXEC | _BINARY
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRefused(f"cannot open {path}: {exc.strerror or exc} (a symlink is never followed)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileRefused(f"{path} is not a regular file")
    return fd


def lstat(path: Path) -> Optional[os.stat_result]:
    """``os.lstat`` or ``None`` when nothing is there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def same_file(a: Optional[os.stat_result], b: Optional[os.stat_result]) -> bool:
    """Both name the same file (device and inode)."""
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def stat_target(path: Path) -> Optional[os.stat_result]:
    """``os.stat`` (following links) or ``None`` when it cannot be read."""
    try:
        return os.stat(path)
    except OSError:
        return None
