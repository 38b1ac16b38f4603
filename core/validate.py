"""The limits every reader of user input shares: how deep a document may nest, how many digits an integer
may have, the finite range of each numeric setting, and what kind of file a path is.

Each parser here (`parse_json`, `parse_yaml`, `parse_toml`) raises `DocumentProblem` (a ValueError) naming the
line and the field where it can, and the limit; `problem_line` turns one into the `file:line: field: ...` text
of a BadInput. No Python limit (the int string-conversion limit, the recursion limit) reaches the user as a
traceback.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import re
import stat
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

MAX_NESTING = 100  # levels of lists/objects in one document (a chat row with tools needs about ten)
MAX_INT_DIGITS = 100  # digits of one integer literal (int64 has 19)

# numeric settings shared by flags, config.toml and the config types (their pydantic bounds come from here)
MAX_THREADS = min(512, 4 * (os.cpu_count() or 1))  # llama.cpp's and torch's thread pools
MAX_WORKERS = 32  # processes attempting a sweep's tasks side by side
MAX_AUTO_WORKERS = 4  # a sweep's workers when none is asked for, on CPU: one per core, at most this many
MAX_CTX = 1 << 20  # tokens in a context window; a model's own trained context bounds it further when it loads
MAX_TEMPERATURE = 5.0
MAX_TOKENS = 1 << 20
MAX_STEPS = 10_000_000
MAX_COUNT = 1_000_000_000  # rows, examples, samples, tasks: any count of things


class DocumentProblem(ValueError):
    """A parsed document breaks a limit (nesting, integer size); `line` and `field` say where when known."""

    def __init__(self, problem: str, line: int | None = None, field: str = ""):
        super().__init__(problem)
        self.problem, self.line, self.field = problem, line, field

    def text(self) -> str:
        """`line: field: problem` (the parts that are known)."""
        where = f"{self.line}: " if self.line else ""
        return f"{where}{self.field}: {self.problem}" if self.field else f"{where}{self.problem}"


def problem_line(
    source: str | Path, problem: DocumentProblem, line: int | None = None, fields: type | None = None
) -> str:
    """`source:line: field: problem` for a BadInput (`line`: the caller's line when the problem has none;
    `fields`: the pydantic model whose field range is added when the problem's field is one of its fields)."""
    number = problem.line or line
    where = f"{source}:{number}" if number else f"{source}"
    accepted = field_range(fields, problem.field) if fields is not None and problem.field else None
    text = problem.problem + (f" (accepted: {accepted})" if accepted else "")
    return f"{where}: {problem.field}: {text}" if problem.field else f"{where}: {text}"


class _HugeInt:
    """Stands in for an integer literal too long to convert, so the walk can name its field and line."""

    __slots__ = ("digits", "line")

    def __init__(self, digits: int, line: int | None = None):
        self.digits, self.line = digits, line


def _huge(digits: int) -> str:
    return f"a {digits}-digit integer is out of range (at most {MAX_INT_DIGITS} digits)"


_markers = threading.local()  # how many _HugeInt markers this thread's parses made: a parse walks only when needed


def _bounded_int(text: str) -> int | _HugeInt:
    if len(text) <= MAX_INT_DIGITS:
        return int(text)
    digits = len(text.lstrip("+-").replace("_", ""))
    if digits <= MAX_INT_DIGITS:
        return int(text)
    _markers.count = _made() + 1
    return _HugeInt(digits)


def _made() -> int:
    return getattr(_markers, "count", 0)


def _path_text(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check_document(document: Any, line: int | None = None) -> None:
    """DocumentProblem for a too-long integer or nesting deeper than MAX_NESTING (iterative; shared parts, such
    as YAML aliases, are visited once)."""
    seen: set[int] = set()
    stack: list[tuple[Any, int, tuple]] = [(document, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, _HugeInt):
            raise DocumentProblem(_huge(value.digits), value.line or line, _path_text(path))
        if not isinstance(value, (dict, list)) or id(value) in seen:
            continue
        if depth >= MAX_NESTING:
            raise DocumentProblem(f"nested more than {MAX_NESTING} levels deep", line, _path_text(path))
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((item, depth + 1, (*path, key)) for key, item in items)


def _too_deep() -> DocumentProblem:
    return DocumentProblem(f"nested too deeply (at most {MAX_NESTING} levels)")


def _may_break_limits(text: str, markers_before: int) -> bool:
    """Whether a parsed text could hold deep nesting or made a long-integer marker (cheap: most rows skip the
    walk)."""
    return _made() != markers_before or text.count("[") + text.count("{") > MAX_NESTING


@cache
def json_decoder() -> json.JSONDecoder:
    """A JSON decoder whose integers longer than MAX_INT_DIGITS become markers instead of ValueErrors."""
    return json.JSONDecoder(parse_int=_bounded_int)


def parse_json(text: str, line: int | None = None) -> Any:
    """`json.loads(text)` within the limits: JSONDecodeError for bad JSON, DocumentProblem for a limit."""
    before = _made()
    try:
        document = json_decoder().decode(text)
    except RecursionError:
        raise _too_deep() from None
    if _may_break_limits(text, before):
        check_document(document, line)
    return document


def raw_decode_json(text: str) -> tuple[Any, int]:
    """`JSONDecoder.raw_decode` within the limits (a JSON value at the start of `text`, and where it ends)."""
    before = _made()
    try:
        document, end = json_decoder().raw_decode(text)
    except RecursionError:
        raise _too_deep() from None
    if _may_break_limits(text[:end], before):
        check_document(document)
    return document, end


@cache
def _yaml_loader() -> type:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader whose too-long integers become markers carrying their line."""

    def construct_int(loader, node):
        digits = sum(character.isdigit() for character in str(node.value))
        if digits > MAX_INT_DIGITS:
            return _HugeInt(digits, node.start_mark.line + 1)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    BoundedLoader.add_constructor("tag:yaml.org,2002:int", construct_int)
    return BoundedLoader


def _flow_depth(text: str) -> int:
    """The deepest nesting of [ ] and { } in a text (quotes not parsed: an upper bound for YAML's flow style)."""
    brackets = _NOT_BRACKETS.sub("", text)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load(text)` within the limits: yaml.YAMLError for bad YAML, DocumentProblem for a limit."""
    import yaml

    if text.count("[") + text.count("{") > MAX_NESTING and _flow_depth(text) > MAX_NESTING:
        raise _too_deep()  # before PyYAML's scanner, which is quadratic in the flow depth
    try:
        document = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise _too_deep() from None
    check_document(document)
    return document


def parse_toml(text: str) -> dict[str, Any]:
    """`tomllib.loads(text)` within the limits: TOMLDecodeError for bad TOML, DocumentProblem for a limit."""
    import tomllib

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # tomllib converts integers with int(): the string-conversion limit
        raise _long_toml_integer(text) from None
    check_document(document)
    return document


def _long_toml_integer(text: str) -> DocumentProblem:
    pattern = re.compile(r"[0-9_]{" + str(MAX_INT_DIGITS + 1) + ",}")
    for number, line in enumerate(text.splitlines(), start=1):
        found = pattern.search(line)
        if found:
            key = re.match(r"\s*([A-Za-z0-9_.\-\"']+)\s*=", line)
            digits = len(found.group().replace("_", ""))
            return DocumentProblem(_huge(digits), number, key.group(1).strip("\"'") if key else "")
    return DocumentProblem(f"a number is out of range (at most {MAX_INT_DIGITS} digits)")


# -- numbers from flags and fields ----------------------------------------------------------------------------
def bounded_int(text: str, what: str) -> int:
    """`int(text)`, refusing an integer longer than MAX_INT_DIGITS with one line (ValueError)."""
    digits = len(text.strip().lstrip("+-").replace("_", ""))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"{what}: {_huge(digits)}")
    return int(text)


def finite_float(text: str, what: str) -> float:
    """`float(text)`, refusing nan and ±inf (ValueError)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{what}: {text.strip()!r} is not a finite number")
    return value


def field_range(model: type, name: str) -> str | None:
    """A pydantic field's accepted range as `low..high` (`>low`, `<high` for an exclusive bound; `N or more`
    with one bound), or None without bounds."""
    import annotated_types as at

    field = getattr(model, "model_fields", {}).get(name)
    if field is None:
        return None
    low: str | None = None
    high: str | None = None
    for item in field.metadata:
        if isinstance(item, at.Ge):
            low = f"{item.ge}"
        elif isinstance(item, at.Gt):
            low = f">{item.gt}"
        elif isinstance(item, at.Le):
            high = f"{item.le}"
        elif isinstance(item, at.Lt):
            high = f"<{item.lt}"
    if low is not None and high is not None:
        return f"{low}..{high}"
    if low is not None:
        return f"more than {low[1:]}" if low.startswith(">") else f"{low} or more"
    if high is not None:
        return f"less than {high[1:]}" if high.startswith("<") else f"{high} or less"
    return None


# -- what kind of file a path is ----------------------------------------------------------------------------------
def file_kind(path: Path) -> str | None:
    """Why `path` is not a regular file, in a few words ("is a FIFO", "is a symlink loop", ...), or None when it is
    one. Never opens the path, so a FIFO cannot block."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "is a broken symlink (its target does not exist)" if path.is_symlink() else "no such file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop"
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if stat.S_ISREG(mode):
        return None
    kinds: list[tuple[Callable[[int], bool], str]] = [
        (stat.S_ISDIR, "is a directory"),
        (stat.S_ISFIFO, "is a FIFO (named pipe)"),
        (stat.S_ISCHR, "is a device"),
        (stat.S_ISBLK, "is a device"),
        (stat.S_ISSOCK, "is a socket"),
    ]
    return next((kind for test, kind in kinds if test(mode)), "is not a regular file")


# -- JSON lines files of rows (task files, eval files) ------------------------------------------------------------
def read_lines_file(path: Path, flag: str, expected: str, max_bytes: int) -> list[bytes]:
    """The lines of a JSON lines file as bytes (decoded one by one, so a bad byte is reported with its line), a
    leading BOM dropped; BadInput (`flag path: what is wrong (expected ...)`) for a missing, special, unreadable
    or oversized file."""
    from llmdeck.core.errors import BadInput

    kind = file_kind(path)
    if kind == "no such file":
        raise BadInput(f"{flag} {path}: no such file")
    if kind is not None:
        raise BadInput(f"{flag} {path}: {kind}, not a regular file (expected {expected})")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise BadInput(f"{flag} {path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise BadInput(f"{flag} {path}: larger than {max_bytes // 2**20} MiB (expected {expected})")
    return data.removeprefix(b"\xef\xbb\xbf").splitlines()


def json_object_rows(lines: list[bytes], source: str, problems: list[str]) -> Any:
    """(line number, `source:line`, object) for each non-blank line that is a JSON object within the limits; each
    other line adds one `source:line: what is wrong` to `problems` (so a file's every bad line is reported)."""
    for number, data in enumerate(lines, start=1):
        where = f"{source}:{number}"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{where}: not UTF-8 text (byte {data[exc.start]:#04x} at column {exc.start + 1})")
            continue
        if not text.strip():
            continue
        try:
            raw = parse_json(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except DocumentProblem as exc:
            problems.append(f"{where}: {exc.text()}")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected an object, found {type(raw).__name__}")
            continue
        yield number, where, raw


def pydantic_problem(where: str, error: Any, unknown_field_hint: str = "") -> str:
    """`where: field: message` for one of a pydantic ValidationError's errors (`unknown_field_hint`: what to say
    of a field the model forbids)."""
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden" and unknown_field_hint:
        return f"{where}: {field}: unknown field ({unknown_field_hint})"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"
