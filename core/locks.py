"""Advisory per-resource locks between llmdeck processes (two ingests into one collection, say).

`fcntl.flock` locks vanish with the process that held them, so a crashed holder never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from llmdeck.core import paths
from llmdeck.core.errors import LlmdeckError


class Busy(LlmdeckError):
    """Another process holds the lock."""


@contextlib.contextmanager
def exclusive(kind: str, name: str) -> Iterator[None]:
    """Hold `$LLMDECK_HOME/locks/KIND-NAME.lock` for the block, or fail at once naming the holder's pid. The file
    is removed when the block ends (while still held; `_locked` makes a process that opened it just before retry
    on a new one), so a command on a name that turns out not to exist leaves no lock file behind."""
    lock_dir = paths.home() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock_path = lock_dir / f"{kind}-{name}.lock"
    with _locked(lock_path, f"{kind} '{name}'") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            with contextlib.suppress(OSError):
                if os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino:
                    lock_path.unlink()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked(lock_path: Path, what: str) -> Iterator[TextIO]:
    """The lock file open and flocked; reopened when `llmdeck doctor --fix` removed the file in between
    (a lock on an unlinked file would not exclude the next process, which creates a new one)."""
    while True:
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy(
                    f"{what} is in use by another llmdeck process (pid {_holder(lock_path)}); "
                    "try again when it finishes"
                ) from None
            try:
                same = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield handle
                return


def stale_locks() -> list[tuple[Path, int]]:
    """Lock files that nobody holds but that still name a holder (a process killed while holding it):
    (path, the dead holder's pid)."""
    found = []
    for lock_path in sorted((paths.home() / "locks").glob("*.lock")):
        holder = _holder(lock_path)
        if not holder.isdigit():
            continue  # released cleanly (empty)
        try:
            with open(lock_path) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
        except (BlockingIOError, OSError):
            continue  # held: not stale
        found.append((lock_path, int(holder)))
    return found


def remove_stale(lock_path: Path) -> bool:
    """Delete a lock file while holding it, if nobody else does; False when it is in use (or gone)."""
    try:
        with open(lock_path) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock_path.unlink()
            return True
    except (BlockingIOError, OSError):
        return False


@contextlib.contextmanager
def if_free(kind: str, name: str) -> Iterator[bool]:
    """Hold the lock for the block if nobody does (yields True), else yield False without waiting."""
    try:
        with exclusive(kind, name):
            yield True
            return
    except Busy:
        pass
    yield False


def _holder(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"
