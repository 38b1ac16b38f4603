"""What a killed command left on disk: temporaries whose owner (pid and start time in the name) is dead.

Opening the model store or the run registry reclaims them (in the home, the store directory and the run
directories) and says so in one line on stderr per dead owner; `llmdeck doctor` lists them everywhere under
`$LLMDECK_HOME` (and, with --fix, removes them), including the owner-less temporaries that older versions
wrote, once they are an hour old.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdeck.core import paths
from llmdeck.core.procs import owner_alive
from llmdeck.core.units import human_size

# `.export-PID-START-LABEL` (export work dirs and staged quants, quantize's staged file) and the atomic writer's
# `.TARGET.PID-START-RANDOM.tmp`
OWNED = re.compile(r"^\.(?P<kind>export|quantize|merge)-(?P<pid>\d+)-(?P<start>\d+)-.+$")
ATOMIC = re.compile(r"^\..+\.(?P<pid>\d+)-(?P<start>\d+)-[A-Za-z0-9_]+\.tmp$")
# what versions without owner tags wrote: judged by age alone
LEGACY = re.compile(r"^\.(?:export-[0-9a-f]{8}|.+\.gguf\.(?:export|quantize)-tmp|.+\.[A-Za-z0-9_]{8}\.tmp)$")
LEGACY_AGE_S = 3600


@dataclass(frozen=True)
class Leftover:
    """One temporary: where, what wrote it (kind), its owner's pid (None: unknown), its size."""

    path: str
    kind: str
    pid: int | None
    size_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def size_of(path: Path) -> int:
    """Bytes in a file or a directory tree (links not followed)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _judge(entry: Path, legacy: bool, now: float) -> Leftover | None:
    match = OWNED.match(entry.name)
    kind = match["kind"] if match else None
    if match is None:
        match = ATOMIC.match(entry.name)
        kind = "write"
    if match is not None:
        pid, started = int(match["pid"]), int(match["start"])
        if owner_alive(pid, started):
            return None
        return Leftover(str(entry), str(kind), pid, size_of(entry))
    if legacy and LEGACY.match(entry.name):
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            return None
        if age > LEGACY_AGE_S:
            kind = "export" if "export" in entry.name else "quantize" if "quantize" in entry.name else "write"
            return Leftover(str(entry), kind, None, size_of(entry))
    return None


def find_dead(directories: Iterable[Path], legacy: bool = False) -> list[Leftover]:
    """Temporaries directly inside `directories` whose owner is dead (and, with `legacy`, old untagged ones)."""
    now = time.time()
    found = []
    for directory in directories:
        try:
            entries = sorted(Path(directory).iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                leftover = _judge(entry, legacy, now)
                if leftover is not None:
                    found.append(leftover)
    return found


def store_dirs() -> list[Path]:
    """Where the model store's temporaries go: the store directory and its downloads."""
    models = paths.models_dir()
    return [models, models / "downloads"]


def run_dirs() -> list[Path]:
    """Each run's directory (export work dirs, the atomic writer's files)."""
    try:
        return sorted(p for p in paths.runs_dir().iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def command_dirs() -> list[Path]:
    """What opening the store or the run registry reclaims: the home, the store directory, every run directory."""
    return [paths.home(), *store_dirs(), *run_dirs()]


def every_dir() -> list[Path]:
    """Every directory under $LLMDECK_HOME where llmdeck writes temporaries."""
    home = paths.home()
    return [
        home,
        *store_dirs(),
        paths.runs_dir(),
        *run_dirs(),
        home / "sessions",
        home / "tools",
        *cache_dirs(),
    ]


def cache_dirs() -> list[Path]:
    """The cache and its subdirectories (a GGUF's converted metadata is staged in `cache/gguf-hf`)."""
    cache = paths.home() / "cache"
    try:
        return [cache, *sorted(p for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))]
    except OSError:
        return []


def remove(leftovers: Iterable[Leftover]) -> int:
    """Delete them; the bytes freed."""
    freed = 0
    for leftover in leftovers:
        path = Path(leftover.path)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # another command reclaimed it first
        except OSError:
            continue  # left for `llmdeck doctor`, which lists it
        freed += leftover.size_bytes
    return freed


def reclaim(directories: Iterable[Path]) -> int:
    """Remove what dead owners left in `directories`, with one line on stderr per dead owner; bytes freed."""
    found = find_dead(directories)
    by_owner: dict[int | None, list[Leftover]] = {}
    for leftover in found:
        by_owner.setdefault(leftover.pid, []).append(leftover)
    total = 0
    for pid, items in by_owner.items():
        freed = remove(items)
        total += freed
        kinds = sorted({item.kind for item in items if item.kind != "write"})  # an export's writes are the export's
        what = f"a killed {kinds[0]}" if kinds else "an interrupted write"
        print(f"reclaimed {human_size(freed)} left by {what} (pid {pid})", file=sys.stderr)
    return total
