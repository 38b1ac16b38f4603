"""Reading user files safely: every problem (binary content, not UTF-8, unreadable, a device or FIFO, too big)
becomes one BadInput line naming the file, never a traceback. A UTF-8 byte order mark is accepted.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmdeck.core.errors import BadInput
from llmdeck.core.textfiles import check_regular_file, decode_text, open_regular
from llmdeck.core.validate import file_kind


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def open_binary(path: Path, what: str = "file"):
    try:
        return open_regular(path, what)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({_reason(exc)})") from None


def read_text_file(path: Path, max_bytes: int | None = None, what: str = "file") -> str:
    """The whole file as text, refusing non-regular, unreadable, binary, non-UTF-8 or oversized files."""
    path = Path(path)
    info = check_regular_file(path, what)
    if max_bytes is not None and info.st_size > max_bytes:
        raise BadInput(f"{path}: {info.st_size} bytes is too large for a {what} (at most {max_bytes})")
    with open_binary(path, what) as handle:
        try:
            raw = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except OSError as exc:
            raise BadInput(f"{path}: cannot read ({_reason(exc)})") from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise BadInput(f"{path}: too large for a {what} (at most {max_bytes} bytes)")
    return decode_text(raw, path, what)


def files_under(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Regular files with one of `suffixes` under `folder`, sorted; an unreadable sub-directory, or a special file
    with one of the suffixes, is BadInput (skipping either silently would train on part of the data)."""
    found = []

    def refuse(exc: OSError) -> None:
        raise BadInput(f"{exc.filename or folder}: cannot read directory ({_reason(exc)})")

    for root, _, names in os.walk(folder, onerror=refuse):
        for name in names:
            path = Path(root) / name
            if path.suffix.lower() not in suffixes:
                continue
            kind = file_kind(path)  # a FIFO, device or broken link named like data is said, not skipped
            if kind is not None:
                raise BadInput(f"{path}: {kind}, not a regular file (expected a data file; move it out of {folder})")
            found.append(path)
    return sorted(found)
