"""A whole dataset for a run or for `data check`: read, detect, validate, substitute `{{name}}` placeholders and
convert every row, with the report of what was found; the method decides which formats it takes and how a
converted row trains (kto unpairs pairs, grpo/rloo keep a conversation's prompt)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput
from llmdeck.tuning.data import errors
from llmdeck.tuning.data.formats import FORMAT_SHAPES, convert_row, detect_format, row_format
from llmdeck.tuning.data.reading import read_rows
from llmdeck.tuning.data.rows import BadRow, RowError

MAX_LISTED_BAD_ROWS = 200
ANY_METHOD = ""  # `data check`: rows checked against their format only
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


@dataclass
class DataReport:
    """What `data check` prints and what a launch checks before loading any model."""

    source: str
    format: str
    rows: int
    valid: int
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_count: int = 0
    tokens: dict | None = None
    with_tools: int = 0  # rows carrying tool (function) definitions
    placeholders: dict = field(default_factory=dict)  # {{name}} left in the rows -> how many rows hold it
    blocks: int | None = None  # text data: max_length blocks the documents make (needs a tokenizer)
    truncation: dict | None = None  # rows over max_length and the share of assistant tokens cut
    looks_like: str | None = None  # with no usable row: the format the rows do look like

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PreparedData:
    report: DataReport
    examples: list[dict]


def bundled_sample(method: str = "sft") -> Path:
    """The sample dataset shipped with llmdeck for `method` (for demo runs and tests); the SFT sample for none."""
    from llmdeck.tuning.methods import DEFAULT_METHOD, find_method, get_method

    return SAMPLE_DIR / (find_method(method) or get_method(DEFAULT_METHOD)).sample


# -- placeholders ---------------------------------------------------------------------------
def substitute(value: Any, variables: dict[str, str]) -> Any:
    """`{{name}}` placeholders in every string of a row replaced by `variables[name]` (others left as they are)."""
    if isinstance(value, str):
        if "{{" not in value or not variables:
            return value
        return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    return value


def placeholders_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value)) if "{{" in value else set()
    if isinstance(value, list):
        return set().union(*(placeholders_in(item) for item in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(placeholders_in(item) for item in value.values())) if value else set()
    return set()


# -- the whole dataset ----------------------------------------------------------------------
def prepare(
    source: str | Path | None,
    fmt: str = "auto",
    method: str = "sft",
    skip_bad: bool = False,
    max_samples: int | None = None,
    variables: dict[str, str] | None = None,
) -> PreparedData:
    """Read, detect, validate, substitute `{{name}}` placeholders and convert; bad rows refuse the dataset
    unless `skip_bad`. No usable row at all is BadInput naming the expected shape and the first bad rows."""
    prepared = _prepare(source, fmt, method, max_samples, variables)
    report = prepared.report
    if not prepared.examples:
        raise BadInput(no_usable_rows_message(report))
    if report.bad_count and not skip_bad:
        raise BadInput(errors.bad_rows(report))
    return prepared


def no_usable_rows_message(report: DataReport) -> str:
    return errors.no_usable_rows(report, FORMAT_SHAPES)


def _prepare(source, fmt: str, method: str, max_samples: int | None, variables: dict[str, str] | None) -> PreparedData:
    source = str(source) if source else str(bundled_sample(method))
    rows, bad = read_rows(source)
    unparsed = len(bad)
    if not rows:
        raise BadInput(errors.no_rows(source, bad))
    fmt = detect_format(rows) if fmt == "auto" else fmt
    trains = check_method(fmt, method, source)
    examples: list[dict] = []
    placeholders: dict[str, int] = {}
    for row in rows:
        data = substitute(row.data, variables or {})
        try:
            example = convert_row(data, fmt)
            examples += trains(example)
        except RowError as exc:
            bad.append(BadRow(row.location, str(exc)))
            continue
        for name in placeholders_in(data):
            placeholders[name] = placeholders.get(name, 0) + 1
    if max_samples:
        examples = examples[:max_samples]
    report = DataReport(
        source=source,
        format=fmt,
        rows=len(rows) + unparsed,
        valid=len(examples),
        bad_rows=bad[:MAX_LISTED_BAD_ROWS],
        bad_count=len(bad),
        with_tools=sum(1 for e in examples if e.get("tools")),
        placeholders=placeholders,
    )
    if not examples:
        looks = {row_format(row.data) for row in rows[:1000]} - {None, fmt}
        report.looks_like = looks.pop() if len(looks) == 1 else None
    return PreparedData(report, examples)


def check_method(fmt: str, method: str, source: str):
    """BadInput unless `method` trains on `fmt` data; returns how a converted row becomes the method's examples."""
    from llmdeck.tuning.methods import find_method, trains_on

    if method == ANY_METHOD:
        return lambda example: [example]
    spec = find_method(method)
    refusal = spec.data_refusal(fmt) if spec else None
    if refusal:
        raise BadInput(f"{source}: {refusal}")
    if spec is None or fmt not in spec.formats:
        expected = spec.formats if spec else ()
        users = sorted(trains_on(fmt))
        raise BadInput(errors.wrong_format_for_method(source, method, fmt, expected, users, FORMAT_SHAPES))
    return spec.examples


def check(
    source: str | Path | None,
    fmt: str = "auto",
    tokenizer=None,
    max_length: int | None = None,
    variables: dict[str, str] | None = None,
) -> DataReport:
    """`data check`: every bad row listed (never raises for bad rows), placeholders and rows with tools counted;
    with a tokenizer, token stats, text blocks and what `max_length` truncates."""
    from llmdeck.tuning.data.measure import measure

    source = str(source) if source else str(bundled_sample())
    prepared = _prepare(source, fmt, ANY_METHOD, None, variables)
    if tokenizer is not None and prepared.examples:
        if prepared.report.format != "text" and not tokenizer.chat_template:
            from llmdeck.tuning.render import TEMPLATE_CHOICES

            raise BadInput(errors.no_chat_template(source, prepared.report.format, TEMPLATE_CHOICES))
        measure(prepared, tokenizer, max_length)
    return prepared.report
