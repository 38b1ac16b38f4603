"""Telling a full disk apart from other write failures, and saying it in one line (`DiskFull`).

Libraries report ENOSPC in their own words: an `OSError` with errno 28, SQLite's "database or disk is full",
Chroma's "Error in compaction" or llama.cpp's "iostream error". `disk_full` looks for the errno or those
words in the exception and its causes, and for the generic ones checks the free space where the write went.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from llmdeck.core.errors import DiskFull
from llmdeck.core.units import human_size

LOW_SPACE_BYTES = 1024 * 1024  # below this, a write failure that names no cause is a full disk
FULL_WORDS = ("no space left", "disk is full", "database or disk is full", "os error 28", "enospc", "quota exceeded")
GENERIC_WORDS = ("error in compaction", "iostream error", "failed to write", "disk i/o error")


def free_bytes(path: str | Path) -> int | None:
    """Free space on the file system holding `path` (its nearest existing parent), None if unknown."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def _chain(exc: BaseException):
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_disk_full(exc: BaseException, path: str | Path | None = None) -> bool:
    """True when `exc` (or a cause of it) is ENOSPC, or a generic write error where `path` has almost no space."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(item, sqlite3.Error) and getattr(item, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
            return True
        text = str(item).lower()
        if any(word in text for word in FULL_WORDS):
            return True
        if path is not None and any(word in text for word in GENERIC_WORDS):
            free = free_bytes(path)
            if free is not None and free < LOW_SPACE_BYTES:
                return True
    return False


def disk_full(exc: BaseException, path: str | Path, needed_bytes: int | None = None) -> DiskFull | None:
    """A one-line `DiskFull` for `exc` if it is a full disk at `path`, else None."""
    if not is_disk_full(exc, path):
        return None
    return DiskFull(message(path, needed_bytes))


def message(path: str | Path, needed_bytes: int | None = None) -> str:
    """'no space left on device writing PATH (12 KB free there; about 3.1 MB needed)'."""
    free = free_bytes(path)
    parts = [f"{human_size(free)} free there" if free is not None else "free space unknown"]
    if needed_bytes:
        parts.append(f"about {human_size(needed_bytes)} needed")
    return f"no space left on device writing {path} ({'; '.join(parts)}); free some space and try again"


def where(exc: BaseException, default: Path) -> Path:
    """The directory (or database) a failed write was aimed at: an OSError's destination (a temporary's
    directory rather than its name), the state database for SQLite, else `default`."""
    from llmdeck.core import paths

    for item in _chain(exc):
        if isinstance(item, OSError) and (item.filename2 or item.filename):
            path = Path(str(item.filename2 or item.filename))
            return path.parent if path.name.startswith(".") else path
        if isinstance(item, sqlite3.Error):
            return paths.db_path()
    return default
