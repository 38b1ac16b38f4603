"""Reading user files safely: every problem (binary content, not UTF-8, unreadable, a device or FIFO, too big)
becomes one BadInput line naming the file, never a traceback. A UTF-8 byte order mark is accepted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from llmdeck.core.errors import BadInput

SNIFF_BYTES = 8192


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_regular_file(path: Path, what: str = "file") -> os.stat_result:
    """The file's stat; BadInput for a missing path, a directory, a device, a FIFO or a socket."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what}") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({_reason(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadInput(f"{path}: is a directory (expected a {what})")
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{path}: not a regular file (a device, FIFO or socket); expected a {what}")
    return info


def open_binary(path: Path):
    try:
        return path.open("rb")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({_reason(exc)})") from None


def decode_text(raw: bytes, path: Path) -> str:
    """UTF-8 (a leading BOM dropped); BadInput for binary content or another encoding, with the byte offset."""
    if b"\x00" in raw[:SNIFF_BYTES]:
        raise BadInput(f"{path}: binary content (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                       "re-save the file as UTF-8") from None


def read_text_file(path: Path, max_bytes: int | None = None, what: str = "file") -> str:
    """The whole file as text, refusing non-regular, unreadable, binary, non-UTF-8 or oversized files."""
    path = Path(path)
    info = check_regular_file(path, what)
    if max_bytes is not None and info.st_size > max_bytes:
        raise BadInput(f"{path}: {info.st_size} bytes is too large for a {what} (at most {max_bytes})")
    with open_binary(path) as handle:
        try:
            raw = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except OSError as exc:
            raise BadInput(f"{path}: cannot read ({_reason(exc)})") from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise BadInput(f"{path}: too large for a {what} (at most {max_bytes} bytes)")
    return decode_text(raw, path)


def files_under(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Regular files with one of `suffixes` under `folder`, sorted; an unreadable sub-directory is BadInput
    (pathlib's rglob would skip it silently and train on part of the data)."""
    found = []

    def refuse(exc: OSError) -> None:
        raise BadInput(f"{exc.filename or folder}: cannot read directory ({_reason(exc)})")

    for root, _, names in os.walk(folder, onerror=refuse):
        for name in names:
            path = Path(root) / name
            if path.suffix.lower() in suffixes and path.is_file():
                found.append(path)
    return sorted(found)
