"""Read a user's text file (config, data, document) or say in one line why it cannot be read.

Every refusal is a BadInput naming the file and the problem: missing, not a regular file (a directory,
/dev/zero, a FIFO), unreadable (permissions), too large, binary, or not UTF-8 (with the byte offset).
A UTF-8 byte-order mark is accepted and dropped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from llmdeck.core.errors import BadInput

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def check_regular_file(path: Path, what: str = "file") -> os.stat_result:
    """The file's stat; BadInput for a missing path, a directory, a device, a FIFO or a socket, or a file this
    process may not read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what}") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the {what} ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadInput(f"{path}: is a directory (expected a {what})")
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{path}: not a regular file (a device, FIFO or socket); expected a {what}")
    if not os.access(path, os.R_OK):
        raise BadInput(f"{path}: cannot read the {what} (permission denied)")
    return info


def read_text(path: Path, what: str = "file", max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The file's text (UTF-8, BOM accepted), or BadInput naming the file and what is wrong with it."""
    path = Path(path)
    info = check_regular_file(path, what)
    if info.st_size > max_bytes:
        raise BadInput(f"{path}: too large for a {what} ({info.st_size} bytes, at most {max_bytes})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the {what} ({exc.strerror})") from None
    return decode_text(raw, path, what)


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
