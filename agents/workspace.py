"""The `files` tool's ground: list, read and grep inside one workspace directory, and nothing outside it.

Paths are relative to the workspace; absolute paths, `..` and symlinks that lead out are refused."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from llmdeck.core.errors import BadInput

MAX_READ_CHARS = 4000
MAX_LISTED = 200
MAX_MATCHES = 40
MAX_GREP_FILE_BYTES = 1 << 20


class WorkspaceError(ValueError):
    """A path or pattern the workspace refuses; the message says why."""


class Workspace:
    """One directory the agent may look into (read-only)."""

    def __init__(self, root: str | Path):
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise BadInput(f"--workspace {root}: not a directory")
        self.root = root_path.resolve()

    def resolve(self, relative: str) -> Path:
        """The real path of `relative` inside the workspace; WorkspaceError for anything that leaves it."""
        text = (relative or ".").strip()
        if "\0" in text:
            raise WorkspaceError(f"{relative!r}: a path cannot hold a NUL character")
        if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", text):
            raise WorkspaceError(f"{relative!r}: absolute paths are refused; give a path inside the workspace")
        if ".." in Path(text).parts:
            raise WorkspaceError(f"{relative!r}: '..' is refused; give a path inside the workspace")
        try:
            real = (self.root / text).resolve()
        except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
            raise WorkspaceError(f"{relative!r}: {getattr(exc, 'strerror', None) or exc}") from None
        if not self.contains(real):
            raise WorkspaceError(f"{relative!r}: leads outside the workspace (symlink)")
        return real

    def contains(self, path: Path) -> bool:
        """Whether `path`, symlinks followed, lies inside the workspace (a symlink loop does not)."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return False
        return real == self.root or self.root in real.parents

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else "."

    def list(self, relative: str = ".") -> str:
        target = self.resolve(relative)
        if not target.exists():
            raise WorkspaceError(f"{relative!r}: no such file or directory")
        if target.is_file():
            return self._shown(target)
        entries = []
        for entry in sorted(target.iterdir(), key=lambda p: p.name):
            if not entry.name.startswith(".") and self.contains(entry):  # hidden files and symlinks out: not shown
                entries.append(entry.name + ("/" if entry.is_dir() else ""))
        more = f"\n... and {len(entries) - MAX_LISTED} more" if len(entries) > MAX_LISTED else ""
        return ("\n".join(entries[:MAX_LISTED]) + more) if entries else "(empty directory)"

    def read(self, relative: str) -> str:
        target = self.resolve(relative)
        if not target.is_file():  # also a FIFO or a device: never opened
            raise WorkspaceError(f"{relative!r}: not a file (use list to see what is there)")
        raw = target.read_bytes()[: MAX_READ_CHARS * 4]
        if b"\0" in raw[:1024]:
            raise WorkspaceError(f"{relative!r}: a binary file")
        text = raw.decode("utf-8", errors="replace")
        if len(text) > MAX_READ_CHARS:
            return text[:MAX_READ_CHARS] + f"\n... (truncated at {MAX_READ_CHARS} characters)"
        return text

    def grep(self, pattern: str, relative: str = ".") -> str:
        """Lines containing `pattern` (case-insensitive text, not a regex), as `file:line: text`."""
        if not pattern or not pattern.strip():
            raise WorkspaceError("grep needs a non-empty pattern")
        needle = pattern.strip().lower()
        start = self.resolve(relative)
        matches = []
        for file in self._files(start):
            try:
                info = file.stat()
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_GREP_FILE_BYTES:
                    continue  # a FIFO or a device would block or never end
                lines = file.read_text(encoding="utf-8", errors="strict").splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(lines, start=1):
                if needle in line.lower():
                    matches.append(f"{self._shown(file)}:{number}: {line.strip()[:200]}")
                    if len(matches) >= MAX_MATCHES:
                        return "\n".join(matches) + "\n... (more matches not shown)"
        return "\n".join(matches) if matches else f"no line contains {pattern!r}"

    def _files(self, start: Path):
        if start.is_file():
            yield start
            return
        for directory, subdirs, names in os.walk(start, followlinks=False):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(names):
                path = Path(directory, name)
                if self.contains(path):
                    yield path.resolve()
