"""Read a user's text file (config, data, document) or say in one line why it cannot be read.

Every refusal is a BadInput naming the file and the problem: missing, not a regular file (a directory,
a device such as /dev/zero, a FIFO, a socket, a symlink loop: each named as what it is), unreadable
(permissions), too large, binary, or not UTF-8 (with the byte offset).
A UTF-8 byte-order mark is accepted and dropped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from llmdeck.core.errors import BadInput
from llmdeck.core.validate import file_kind

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def check_regular_file(path: Path, what: str = "file") -> os.stat_result:
    """The file's stat; BadInput saying what the path is instead (missing, a directory, a FIFO, a device, a socket,
    a symlink loop, a broken symlink) or that this process may not read it. Never opens it (a FIFO cannot block)."""
    kind = file_kind(path)
    if kind == "no such file":
        raise BadInput(f"{path}: no such {what}")
    if kind == "is a directory":
        raise BadInput(f"{path}: is a directory (expected a {what})")
    if kind is not None and kind.startswith("cannot be read"):  # stat itself failed (a folder we may not enter)
        raise BadInput(f"{path}: cannot read the {what}{kind.removeprefix('cannot be read')}")
    if kind is not None:
        raise BadInput(f"{path}: {kind}, not a regular file; expected a {what}")
    if not os.access(path, os.R_OK):
        raise BadInput(f"{path}: cannot read the {what} (permission denied)")
    return path.stat()


def missing_reason(path: Path) -> str:
    """What to say for a path that `exists()` calls missing: "no such file or directory", or what it really is
    (a symlink loop, a broken symlink)."""
    kind = file_kind(path)
    return "no such file or directory" if kind in (None, "no such file") else kind


def read_text(path: Path, what: str = "file", max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The file's text (UTF-8, BOM accepted), or BadInput naming the file and what is wrong with it."""
    path = Path(path)
    info = check_regular_file(path, what)
    if info.st_size > max_bytes:
        raise BadInput(f"{path}: too large for a {what} ({info.st_size} bytes, at most {max_bytes})")
    try:
        with open_regular(path, what) as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise BadInput(f"{path}: too large for a {what} (at most {max_bytes} bytes)")
    return decode_text(raw, path, what)


def open_regular(path: Path, what: str = "file") -> BinaryIO:
    """The file open for binary reading, opened without blocking and checked again once open: a path swapped for
    a FIFO or a device after `check_regular_file` is refused, never waited on (OSError as `open` raises it)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise BadInput(f"{path}: not a regular file; expected a {what}")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def decode_text(raw: bytes, path: Path | str, what: str = "file") -> str:
    """UTF-8 (a leading BOM dropped); BadInput for binary content or another encoding, with line and offset."""
    if b"\x00" in raw[:8192]:
        raise BadInput(f"{path}: binary content (NUL bytes; expected a UTF-8 text {what})")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start});"
            f" save the {what} as UTF-8"
        ) from None
