"""Reading a dataset: a file (.json, .jsonl, .csv, .parquet, .txt), a directory of them, or a hub dataset, as rows
with their locations; lines that do not parse become bad rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError, OfflineError
from llmdeck.core.textfiles import check_regular_file, missing_reason
from llmdeck.core.validate import DocumentProblem, parse_json, problem_line
from llmdeck.tuning.data.rows import BadRow, Row
from llmdeck.tuning.files import files_under, read_text_file

FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")
MAX_CSV_FIELD = 64 * 2**20


def read_rows(source: str | Path) -> tuple[list[Row], list[BadRow]]:
    """All rows of a file, a directory of files, or a hub dataset; unparseable lines become bad rows.

    Unreadable, binary, non-UTF-8 or special files are BadInput naming the file (exit 2), never a traceback.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        files = files_under(path, FILE_SUFFIXES)
        if not files:
            raise BadInput(f"{path}: no {'/'.join(FILE_SUFFIXES)} files in this directory")
    elif path.exists():
        check_regular_file(path, "data file")
        files = [path]
    elif looks_like_hub_name(str(source)):
        return _read_hub_dataset(str(source)), []
    else:
        reason = missing_reason(path)
        hint = " (expected a data file, a directory or a hub dataset name)" if reason.startswith("no such") else ""
        raise BadInput(f"{source}: {reason}{hint}")
    rows, bad = [], []
    for file in files:
        file_rows, file_bad = _read_file(file)
        rows += file_rows
        bad += file_bad
    return rows, bad


def _read_file(path: Path) -> tuple[list[Row], list[BadRow]]:
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise BadInput(f"{path}: unsupported file type {suffix!r} (expected {', '.join(FILE_SUFFIXES)})")
    check_regular_file(path, "data file")
    if suffix == ".parquet":
        return _read_parquet(path), []
    text = read_text_file(path, what="data file")
    if suffix == ".jsonl":
        return _read_jsonl(path, text)
    if suffix == ".json":
        return _read_json(path, text), []
    if suffix == ".csv":
        return _read_csv(path, text), []
    return [Row(f"{path.name} document {i}", {"text": doc}) for i, doc in enumerate(text_documents(text), start=1)], []


def text_documents(text: str) -> list[str]:
    """The documents of a .txt file: blank-line separated blocks, or one per line when it has no blank line
    (one article per line). Training joins them with EOS and cuts max_length blocks either way."""
    if "\n\n" in text.replace("\r\n", "\n"):
        parts = text.replace("\r\n", "\n").split("\n\n")
    else:
        parts = text.splitlines()
    return [part.strip() for part in parts if part.strip()]


def _read_parquet(path: Path) -> list[Row]:
    with path.open("rb") as handle:  # a Parquet file starts and ends with its magic: checked before pyarrow loads
        head = handle.read(4)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    if path.stat().st_size < 12 or head != b"PAR1" or tail != b"PAR1":
        raise BadInput(f"{path}: not a readable Parquet file (expected 'PAR1' at its start and end)")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInput(f"{path}: not a readable Parquet file ({reason})") from None
    return [Row(f"{path.name}[{i}]", r) for i, r in enumerate(records)]


def _read_csv(path: Path, text: str) -> list[Row]:
    import io

    csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return [Row(f"{path.name}:row {i}", dict(r)) for i, r in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise BadInput(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _read_jsonl(path: Path, text: str) -> tuple[list[Row], list[BadRow]]:
    rows, bad = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        location = f"{path.name}:{number}"
        try:
            rows.append(Row(location, parse_json(line)))
        except json.JSONDecodeError as exc:
            bad.append(BadRow(location, f"not valid JSON ({exc.msg} at column {exc.colno})"))
        except DocumentProblem as exc:
            bad.append(BadRow(location, exc.text()))
    return rows, bad


def _read_json(path: Path, text: str) -> list[Row]:
    try:
        document = parse_json(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except DocumentProblem as exc:
        raise BadInput(problem_line(path, exc)) from None
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise BadInput(f"{path}: expected a JSON list of rows (or an object holding one list)")
        document = lists[0]
    if not isinstance(document, list):
        raise BadInput(f"{path}: expected a JSON list of rows, found {type(document).__name__}")
    return [Row(f"{path.name}[{i}]", item) for i, item in enumerate(document)]


def looks_like_hub_name(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _read_hub_dataset(name: str) -> list[Row]:
    import os

    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise OfflineError(f"{name}: hub datasets need the network and HF_HUB_OFFLINE is set; use a local file")
    from llmdeck.tuning.models import require_hub

    require_hub(name)
    import datasets

    try:
        dataset = datasets.load_dataset(name, split="train")
    except Exception as exc:
        raise LlmdeckError(f"{name}: could not load the hub dataset ({type(exc).__name__}: {exc})") from None
    return [Row(f"{name}[{i}]", dict(r)) for i, r in enumerate(dataset)]
