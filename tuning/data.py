"""Training data: read files, detect the format, validate every row, convert to trl's formats.

Formats (one per dataset):
- alpaca: {"instruction", "input"?, "output", "system"?}
- sharegpt: {"conversations": [{"from": human|gpt|system|function_call|observation, "value"}], "system"?}
- messages: {"messages": [{"role": system|user|assistant|tool, "content"}]}
- text: {"text"} (or plain .txt files), for continued pre-training: tokenized, joined with EOS, cut into blocks
- preference: {"prompt"?, "chosen", "rejected"} as strings or message lists, or sharegpt-style
  {"conversations": [...], "chosen": {"from", "value"}, "rejected": {...}}; or unpaired (KTO)
  {"prompt", "completion", "label": true|false}
- prompt: {"prompt": text or messages, "answer"?} for online RL (grpo/rloo; conversations work too, their last
  reply becoming the answer)
- tokens: {"tokens": [words], "tags": [one label per word]} for token classification
- qa: {"question", "context", "answer"} or SQuAD's {"answers": {"text": [...], "answer_start": [...]}}

SFT rows become conversational prompt/completion pairs (trl then puts the loss on the
completion, the assistant's reply) or {"text"}; preference rows become {prompt, chosen, rejected}
message lists, all rendered through the base model's chat template by trl.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput, LlmdeckError, OfflineError
from llmdeck.core.textfiles import check_regular_file
from llmdeck.tuning.files import files_under, read_text_file

FORMATS = ("alpaca", "sharegpt", "messages", "text", "preference", "prompt", "tokens", "qa")
FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "function_call": "assistant", "observation": "tool", "tool": "tool"}
MESSAGE_ROLES = {"system", "user", "assistant", "tool"}
MAX_LISTED_BAD_ROWS = 200
MAX_CSV_FIELD = 64 * 2**20
MEASURED_ROWS = 5000  # token stats and truncation of bigger datasets come from an even sample
FORMAT_SHAPES = {
    "alpaca": '{"instruction", "output", "input"?, "system"?}',
    "sharegpt": '{"conversations": [{"from": "human"|"gpt"|..., "value"}], "system"?, "tools"?}',
    "messages": '{"messages": [{"role": "user"|"assistant"|..., "content"}], "tools"?}',
    "text": '{"text"} or a .txt file',
    "preference": '{"prompt"?, "chosen", "rejected"} or {"prompt", "completion", "label": true|false}',
    "prompt": '{"prompt": text or messages, "answer"?}',
    "tokens": '{"tokens": [words], "tags": [a label per word]}',
    "qa": '{"question", "context", "answer"} or {"question", "context", "answers": {"text": [...], "answer_start": [...]}}',
}
SAMPLES = {"dpo": "preference_sample.jsonl", "orpo": "preference_sample.jsonl", "reward": "preference_sample.jsonl",
           "kto": "kto_sample.jsonl", "grpo": "prompt_sample.jsonl", "rloo": "prompt_sample.jsonl",
           "token-cls": "ner_sample.jsonl", "extractive-qa": "qa_sample.jsonl", "mlm": "mlm_sample.jsonl"}
ANY_METHOD = ""  # `data check`: rows checked against their format only
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class RowError(ValueError):
    """One row is unusable; the message says what is wrong."""


@dataclass
class Row:
    location: str  # "file.jsonl:12", "file.json[3]", "file.csv:row 4"
    data: Any


@dataclass
class BadRow:
    location: str
    problem: str


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


# -- reading --------------------------------------------------------------------------------
def bundled_sample(method: str = "sft") -> Path:
    """The sample dataset shipped with llmdeck (for demo runs and tests)."""
    name = SAMPLES.get(method, "sft_sample.jsonl")
    return Path(__file__).resolve().parent / "sample_data" / name


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
        raise BadInput(f"{source}: no such file or directory (expected a data file, a directory or a hub dataset name)")
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
            rows.append(Row(location, json.loads(line)))
        except json.JSONDecodeError as exc:
            bad.append(BadRow(location, f"not valid JSON ({exc.msg} at column {exc.colno})"))
        except RecursionError:
            bad.append(BadRow(location, "not valid JSON (nested too deeply)"))
    return rows, bad


def _read_json(path: Path, text: str) -> list[Row]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise BadInput(f"{path}: not valid JSON (nested too deeply)") from None
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


# -- format detection -----------------------------------------------------------------------
def row_format(data: Any) -> str | None:
    """The format one row looks like, or None when it matches none or more than one."""
    if not isinstance(data, dict):
        return None
    keys = {k for k, v in data.items() if v is not None and v != ""}
    if {"chosen", "rejected"} <= keys or {"completion", "label"} <= keys:
        return "preference"
    if "tokens" in keys and keys & {"tags", "ner_tags"}:
        return "tokens"
    if {"question", "context"} <= keys:
        return "qa"
    if "prompt" in keys and not keys & {"chosen", "rejected", "completion", "messages", "conversations", "text"}:
        return "prompt"
    matches = []
    if {"instruction", "output"} <= keys:
        matches.append("alpaca")
    if "conversations" in keys:
        matches.append("sharegpt")
    if "messages" in keys:
        turns = data["messages"]
        first = turns[0] if isinstance(turns, list) and turns else {}
        matches.append("sharegpt" if isinstance(first, dict) and "from" in first else "messages")
    if "text" in keys:
        matches.append("text")
    return matches[0] if len(matches) == 1 else None


def detect_format(rows: list[Row]) -> str:
    """The one format all rows share; BadInput asking for --format when it is not clear."""
    counts: dict[str, int] = {}
    for row in rows[:1000]:
        fmt = row_format(row.data)
        if fmt:
            counts[fmt] = counts.get(fmt, 0) + 1
    if not counts:
        first = rows[0].data if rows else None
        keys = sorted(first) if isinstance(first, dict) else type(first).__name__
        raise BadInput(f"cannot tell the data format (first row has {keys}); pass --format {'|'.join(FORMATS)}")
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[1][1] >= max(1, ranked[0][1] // 10):
        seen = ", ".join(f"{name} ({n} rows)" for name, n in ranked)
        raise BadInput(f"rows look like several formats: {seen}; pass --format to choose one")
    return ranked[0][0]


# -- conversion -----------------------------------------------------------------------------
def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"{what}: expected a string, found {type(value).__name__}")
    if not value.strip():
        raise RowError(f"{what}: empty")
    return value


def _message(turn: Any, index: int, sharegpt: bool) -> dict:
    where = f"{'conversations' if sharegpt else 'messages'}[{index}]"
    if not isinstance(turn, dict):
        raise RowError(f"{where}: expected an object, found {type(turn).__name__}")
    role_key, content_key = ("from", "value") if sharegpt else ("role", "content")
    role = turn.get(role_key)
    roles = SHAREGPT_ROLES if sharegpt else {r: r for r in MESSAGE_ROLES}
    if role not in roles:
        raise RowError(f"{where}.{role_key}: {role!r} is not one of {', '.join(sorted(roles))}")
    return {"role": roles[role], "content": _text(turn.get(content_key), f"{where}.{content_key}")}


def _conversation(turns: Any, sharegpt: bool, system: Any = None) -> list[dict]:
    key = "conversations" if sharegpt else "messages"
    if isinstance(turns, str):
        try:
            turns = json.loads(turns)  # CSV cells hold JSON text
        except json.JSONDecodeError:
            raise RowError(f"{key}: expected a list of turns, found text that is not JSON") from None
    if not isinstance(turns, list) or not turns:
        raise RowError(f"{key}: expected a non-empty list of turns")
    messages = [_message(turn, i, sharegpt) for i, turn in enumerate(turns)]
    if isinstance(system, str) and system.strip() and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _prompt_completion(messages: list[dict], key: str) -> dict:
    if messages[-1]["role"] != "assistant":
        raise RowError(f"{key}: the last turn is from {messages[-1]['role']!r}; expected the assistant's reply last")
    if not any(m["role"] == "user" for m in messages[:-1]):
        raise RowError(f"{key}: no user turn before the assistant's reply")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def _tools(value: Any) -> list | None:
    """A row's function schemas: a list of objects, or JSON text of one (CSV/parquet cells)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowError("tools: expected a JSON list of function schemas, found text that is not JSON") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RowError("tools: expected a list of function schemas (objects)")
    return value or None


def _with_tools(example: dict, data: dict) -> dict:
    tools = _tools(data.get("tools"))
    return {**example, "tools": tools} if tools else example


def convert_row(data: Any, fmt: str) -> dict:
    """One row in `fmt` -> trl's conversational format (+ `tools` when the row has them); RowError says what is wrong."""
    if not isinstance(data, dict):
        raise RowError(f"expected an object, found {type(data).__name__}")
    if fmt == "alpaca":
        instruction = _text(data.get("instruction"), "instruction")
        extra = data.get("input")
        if extra is not None and not isinstance(extra, str):
            raise RowError(f"input: expected a string, found {type(extra).__name__}")
        user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(data.get("output"), "output")}]
        if isinstance(data.get("system"), str) and data["system"].strip():
            messages.insert(0, {"role": "system", "content": data["system"]})
        return _prompt_completion(messages, "output")
    if fmt == "sharegpt":
        turns = data.get("conversations", data.get("messages"))
        return _with_tools(_prompt_completion(_conversation(turns, True, data.get("system")), "conversations"), data)
    if fmt == "messages":
        return _with_tools(_prompt_completion(_conversation(data.get("messages"), False), "messages"), data)
    if fmt == "text":
        return {"text": _text(data.get("text"), "text")}
    if fmt == "preference":
        return _labelled(data) if "label" in data and "chosen" not in data else _preference(data)
    if fmt == "prompt":
        return _prompt(data)
    if fmt == "tokens":
        return _tagged_tokens(data)
    if fmt == "qa":
        return _question_answer(data)
    raise BadInput(f"unknown data format {fmt!r} (expected one of {', '.join(FORMATS)})")


def _preference_side(value: Any, key: str, sharegpt: bool) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": _text(value, key)}]
    if isinstance(value, dict):  # sharegpt-style: one message
        message = _message(value, 0, sharegpt="from" in value)
        return [{**message, "role": "assistant"}] if message["role"] == "assistant" else _bad_side(key, message)
    if isinstance(value, list):
        return _conversation(value, sharegpt)
    raise RowError(f"{key}: expected a string, a message or a list of messages, found {type(value).__name__}")


def _bad_side(key: str, message: dict) -> list[dict]:
    raise RowError(f"{key}: expected an assistant message, found role {message['role']!r}")


def _preference(data: dict) -> dict:
    sharegpt = "conversations" in data
    chosen = _preference_side(data.get("chosen"), "chosen", sharegpt)
    rejected = _preference_side(data.get("rejected"), "rejected", sharegpt)
    prompt_value = data.get("conversations", data.get("prompt"))
    if prompt_value is None:  # implicit prompt: the shared beginning of both conversations
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    elif isinstance(prompt_value, str):
        prompt = [{"role": "user", "content": _text(prompt_value, "prompt")}]
    else:
        prompt = _conversation(prompt_value, sharegpt, data.get("system"))
    if not prompt or prompt[-1]["role"] not in ("user", "tool"):
        raise RowError("prompt: expected it to end with a user turn")
    for key, side in (("chosen", chosen), ("rejected", rejected)):
        if not side or side[-1]["role"] != "assistant":
            raise RowError(f"{key}: expected the assistant's reply")
    if chosen == rejected:
        raise RowError("chosen and rejected are identical")
    return _with_tools({"prompt": prompt, "chosen": chosen, "rejected": rejected}, data)


def _prompt_messages(value: Any, sharegpt: bool = False) -> list[dict]:
    messages = [{"role": "user", "content": _text(value, "prompt")}] if isinstance(value, str) else _conversation(value, sharegpt)
    if messages[-1]["role"] not in ("user", "tool"):
        raise RowError("prompt: expected it to end with a user turn")
    return messages


def _labelled(data: dict) -> dict:
    """KTO's unpaired form: one completion marked desirable (true) or undesirable (false)."""
    label = data.get("label")
    if isinstance(label, str) and label.strip().lower() in ("true", "false", "1", "0"):  # CSV cells
        label = label.strip().lower() in ("true", "1")
    if isinstance(label, int) and not isinstance(label, bool) and label in (0, 1):
        label = bool(label)
    if not isinstance(label, bool):
        raise RowError(f"label: expected true (a desirable completion) or false, found {label!r}")
    sharegpt = "conversations" in data
    prompt = _prompt_messages(data.get("conversations", data.get("prompt")), sharegpt)
    return _with_tools({"prompt": prompt, "completion": _preference_side(data.get("completion"), "completion", sharegpt),
                        "label": label}, data)


def _prompt(data: dict) -> dict:
    """An RL prompt, with the expected answer the exact-match reward compares against (optional)."""
    example = {"prompt": _prompt_messages(data.get("prompt"))}
    answer = data.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if answer is not None and answer != "":
        example["answer"] = _text(answer, "answer")
    return _with_tools(example, data)


def _tagged_tokens(data: dict) -> dict:
    tokens, key = data.get("tokens"), "tags" if "tags" in data else "ner_tags"
    tags = data.get(key)
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise RowError("tokens: expected a non-empty list of words (strings)")
    if not isinstance(tags, list) or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in tags):
        raise RowError(f"{key}: expected a list of labels (one per word)")
    if len(tags) != len(tokens):
        raise RowError(f"{key}: {len(tags)} labels for {len(tokens)} tokens; expected one label per word")
    return {"tokens": tokens, "tags": [str(tag) for tag in tags]}


def _question_answer(data: dict) -> dict:
    question, context = _text(data.get("question"), "question"), _text(data.get("context"), "context")
    answers = data.get("answers")
    if isinstance(answers, dict):  # SQuAD
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or not texts or len(texts) != len(starts):
            raise RowError("answers: expected {\"text\": [...], \"answer_start\": [...]} with one start per text")
        answer, start = _text(texts[0], "answers.text[0]"), starts[0]
    else:
        answer, start = _text(data.get("answer"), "answer"), data.get("answer_start")
    if start is None:
        start = context.find(answer)
        if start < 0:
            raise RowError(f"answer: {answer[:40]!r} does not occur in the context (extractive QA copies a span)")
    if not isinstance(start, int) or isinstance(start, bool) or context[start:start + len(answer)] != answer:
        raise RowError(f"answer_start: {start!r} does not point at the answer {answer[:40]!r} in the context")
    return {"question": question, "context": context, "answer_text": answer, "answer_start": start}


def _for_method(example: dict, method: str) -> list[dict]:
    """A converted row as the method trains on it: KTO unpairs pairs; RL keeps the prompt and the reply as answer."""
    if method == "kto" and "chosen" in example:
        return [{"prompt": example["prompt"], "completion": example["chosen"], "label": True},
                {"prompt": example["prompt"], "completion": example["rejected"], "label": False}]
    if method in ("dpo", "orpo", "reward") and "label" in example:
        raise RowError(f"label: a labelled (unpaired) row trains with method kto; {method} needs chosen and rejected")
    if method in ("grpo", "rloo") and "completion" in example:
        prompt = {"prompt": example["prompt"], "answer": example["completion"][-1]["content"]}
        return [{**prompt, "tools": example["tools"]} if example.get("tools") else prompt]
    return [example]


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
def prepare(source: str | Path | None, fmt: str = "auto", method: str = "sft", skip_bad: bool = False,
            max_samples: int | None = None, variables: dict[str, str] | None = None) -> PreparedData:
    """Read, detect, validate, substitute `{{name}}` placeholders and convert; bad rows refuse the dataset
    unless `skip_bad`. No usable row at all is BadInput naming the expected shape and the first bad rows."""
    prepared = _prepare(source, fmt, method, max_samples, variables)
    report = prepared.report
    if not prepared.examples:
        raise BadInput(no_usable_rows_message(report))
    if report.bad_count and not skip_bad:
        first = report.bad_rows[0]
        raise BadInput(f"{report.source}: {report.bad_count} bad row(s), first at {first.location}: {first.problem} "
                       "(see `llmdeck data check`, or pass --skip-bad)")
    return prepared


def no_usable_rows_message(report: DataReport) -> str:
    shown = "; ".join(f"{bad.location}: {bad.problem}" for bad in report.bad_rows[:3])
    hint = f"; the rows look like {report.looks_like} (pass --format {report.looks_like} or auto)" if report.looks_like else ""
    return (f"{report.source}: no usable {report.format} rows ({report.bad_count} bad); expected "
            f"{FORMAT_SHAPES.get(report.format, report.format)} per row{hint}; first bad rows: {shown}")


def _prepare(source, fmt: str, method: str, max_samples: int | None, variables: dict[str, str] | None) -> PreparedData:
    source = str(source) if source else str(bundled_sample(method))
    rows, bad = read_rows(source)
    unparsed = len(bad)
    if not rows:
        raise BadInput(f"{source}: no rows" + (f" ({len(bad)} unparseable, first at {bad[0].location}: "
                                                f"{bad[0].problem})" if bad else ""))
    fmt = detect_format(rows) if fmt == "auto" else fmt
    _check_method(fmt, method, source)
    examples, placeholders = [], {}
    for row in rows:
        data = substitute(row.data, variables or {})
        try:
            examples += _for_method(convert_row(data, fmt), method)
        except RowError as exc:
            bad.append(BadRow(row.location, str(exc)))
            continue
        for name in placeholders_in(data):
            placeholders[name] = placeholders.get(name, 0) + 1
    if max_samples:
        examples = examples[:max_samples]
    report = DataReport(source=source, format=fmt, rows=len(rows) + unparsed, valid=len(examples),
                        bad_rows=bad[:MAX_LISTED_BAD_ROWS], bad_count=len(bad),
                        with_tools=sum(1 for e in examples if e.get("tools")), placeholders=placeholders)
    if not examples:
        looks = {row_format(row.data) for row in rows[:1000]} - {None, fmt}
        report.looks_like = looks.pop() if len(looks) == 1 else None
    return PreparedData(report, examples)


def _check_method(fmt: str, method: str, source: str) -> None:
    from llmdeck.tuning.config import METHOD_FORMATS

    if method == ANY_METHOD:
        return
    if method == "sft" and fmt == "preference":
        raise BadInput(f"{source}: preference data trains with --method dpo, orpo, kto or reward, not sft")
    if method in ("dpo", "orpo", "kto", "reward") and fmt != "preference":
        raise BadInput(f"{source}: method {method} needs preference data (prompt/chosen/rejected), found {fmt}")
    expected = METHOD_FORMATS.get(method, ())
    if fmt not in expected:
        users = sorted(m for m, formats in METHOD_FORMATS.items() if fmt in formats)
        raise BadInput(f"{source}: method {method} needs {', '.join(expected)} data, found {fmt} rows "
                       f"(which train with {' or '.join(users)}; --format {expected[0]} rows look like {FORMAT_SHAPES[expected[0]]})")


def check(source: str | Path | None, fmt: str = "auto", tokenizer=None, max_length: int | None = None,
          variables: dict[str, str] | None = None) -> DataReport:
    """`data check`: every bad row listed (never raises for bad rows), placeholders and rows with tools counted;
    with a tokenizer, token stats, text blocks and what `max_length` truncates."""
    source = str(source) if source else str(bundled_sample())
    prepared = _prepare(source, fmt, ANY_METHOD, None, variables)
    if tokenizer is not None and prepared.examples:
        if prepared.report.format != "text" and not tokenizer.chat_template:
            from llmdeck.tuning.render import TEMPLATE_CHOICES

            raise BadInput(f"{source}: the model has no chat template to render {prepared.report.format} conversations; "
                           f"pass --chat-template {TEMPLATE_CHOICES}")
        measure(prepared, tokenizer, max_length)
    return prepared.report


def measure(prepared: PreparedData, tokenizer, max_length: int | None) -> None:
    """Fill the report's token stats, text blocks and truncation under `tokenizer` (a sample of big datasets)."""
    from llmdeck.tuning import render

    examples = prepared.examples
    sample = examples if len(examples) <= MEASURED_ROWS else [examples[i] for i in
                                                             range(0, len(examples), len(examples) // MEASURED_ROWS)][:MEASURED_ROWS]
    tools_rendered = render.template_supports_tools(tokenizer) if tokenizer.chat_template else False
    sample = render.place_tools(sample, tokenizer, tools_rendered)
    report = prepared.report
    report.tokens = token_stats(sample, tokenizer, max_length)
    if not {"completion", "chosen", "text"} & set(examples[0]):
        return  # prompts, tagged words, QA contexts: long QA contexts are windowed, the others counted in tokens
    if max_length and "text" in examples[0]:
        report.blocks = len(render.text_blocks([e["text"] for e in examples], tokenizer, max_length))
    elif max_length:
        report.truncation = render.truncation(sample, tokenizer, max_length)
        if len(sample) < len(examples):
            report.truncation["sampled_rows"] = len(sample)


def render_lengths(examples: list[dict], tokenizer) -> Iterator[int]:
    """Token count of each example rendered through the chat template (chosen side for preference)."""
    for example in examples:
        if "text" in example:
            yield len(tokenizer(example["text"], add_special_tokens=False)["input_ids"])
            continue
        if "tokens" in example:
            yield len(tokenizer(example["tokens"], is_split_into_words=True)["input_ids"])
            continue
        if "question" in example:
            yield len(tokenizer(example["question"], example["context"])["input_ids"])
            continue
        if "completion" not in example and "chosen" not in example:  # an RL prompt: what the policy reads
            yield len(tokenizer.apply_chat_template(example["prompt"], tokenize=True, return_dict=False,
                                                    add_generation_prompt=True, tools=_tools_list(example)))
            continue
        messages = example["prompt"] + example.get("completion", example.get("chosen", []))
        tools = example.get("tools")
        tools = json.loads(tools) if isinstance(tools, str) else tools
        yield len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, tools=tools or None))


def _tools_list(example: dict) -> list | None:
    tools = example.get("tools")
    return (json.loads(tools) if isinstance(tools, str) else tools) or None


def token_stats(examples: list[dict], tokenizer, max_length: int | None = None) -> dict:
    lengths = sorted(render_lengths(examples, tokenizer))
    if not lengths:
        return {}

    def pct(q: float) -> int:
        return lengths[min(len(lengths) - 1, int(q * len(lengths)))]

    stats = {"count": len(lengths), "total": sum(lengths), "min": lengths[0], "mean": round(sum(lengths) / len(lengths), 1),
             "p50": pct(0.5), "p95": pct(0.95), "max": lengths[-1]}
    if max_length:
        stats["max_length"] = max_length
        stats["over_max_length"] = sum(1 for n in lengths if n > max_length)
    return stats


def split_eval(examples: list[dict], eval_split: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Deterministic shuffled hold-out of `eval_split` of the rows (at least one when > 0)."""
    if eval_split <= 0 or len(examples) < 2:
        return examples, []
    import random

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, int(len(examples) * eval_split))
    held = set(order[:n_eval])
    return [e for i, e in enumerate(examples) if i not in held], [examples[i] for i in order[:n_eval]]


def to_dataset(examples: list[dict]):
    """A `datasets.Dataset` trl's trainers accept."""
    import datasets

    return datasets.Dataset.from_list(examples)
