"""What a run trained on, recorded at launch: the data files' sha256 and sizes, the rows read and kept, the format.

Written next to the run's config as `data.json` so `runs diff` can tell whether two runs saw the same data;
runs launched before this existed have no record (`read_record` returns None).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from llmdeck.core.atomic import atomic_write_text

RECORD_FILE = "data.json"
CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def data_files(source: str) -> list[Path]:
    """The files a dataset source reads (one file, or a directory's data files); none for a hub dataset."""
    from llmdeck.tuning.data.reading import FILE_SUFFIXES
    from llmdeck.tuning.files import files_under

    path = Path(source).expanduser()
    if path.is_dir():
        return files_under(path, FILE_SUFFIXES)
    return [path] if path.is_file() else []


def describe(report) -> dict:
    """The record of a launch's `DataReport`: source, format, rows, valid rows, and each file's sha256 and size."""
    root = Path(report.source).expanduser()
    files = []
    for path in data_files(report.source):
        name = str(path.relative_to(root)) if root.is_dir() else path.name
        files.append({"name": name, "path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)})
    combined = hashlib.sha256("".join(f"{f['name']}\0{f['sha256']}\n" for f in files).encode("utf-8"))
    return {
        "source": report.source,
        "format": report.format,
        "rows": report.rows,
        "valid": report.valid,
        "files": files,
        "sha256": combined.hexdigest() if files else None,  # None: a hub dataset, not hashed
    }


def record(run_dir: Path, report) -> dict:
    """Write `data.json` in the run directory (temp name, then rename) and return it."""
    described = describe(report)
    atomic_write_text(Path(run_dir) / RECORD_FILE, json.dumps(described, indent=2) + "\n")
    return described


def read_record(run_dir: Path) -> dict | None:
    """The run's data record, or None when the run was launched before records were written (or it is damaged)."""
    try:
        data = json.loads((Path(run_dir) / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
