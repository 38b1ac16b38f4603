"""Advisory per-resource locks between llmdeck processes (two ingests into one collection, say).

`fcntl.flock` locks vanish with the process that held them, so a crashed holder never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from llmdeck.core import paths
from llmdeck.core.errors import LlmdeckError


class Busy(LlmdeckError):
    """Another process holds the lock."""


@contextlib.contextmanager
def exclusive(kind: str, name: str) -> Iterator[None]:
    """Hold `$LLMDECK_HOME/locks/KIND-NAME.lock` for the block, or fail at once naming the holder's pid."""
    lock_dir = paths.home() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock_path = lock_dir / f"{kind}-{name}.lock"
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                f"{kind} '{name}' is in use by another llmdeck process (pid {_holder(lock_path)}); "
                "try again when it finishes"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


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
