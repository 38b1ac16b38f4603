"""What every format's converter shares: the row types and the checks of texts, messages, conversations and tools."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmdeck.core.validate import DocumentProblem, parse_json

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
}
MESSAGE_ROLES = {"system", "user", "assistant", "tool"}


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


def text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"{what}: expected a string, found {type(value).__name__}")
    if not value.strip():
        raise RowError(f"{what}: empty")
    return value


def message(turn: Any, index: int, sharegpt: bool) -> dict:
    where = f"{'conversations' if sharegpt else 'messages'}[{index}]"
    if not isinstance(turn, dict):
        raise RowError(f"{where}: expected an object, found {type(turn).__name__}")
    role_key, content_key = ("from", "value") if sharegpt else ("role", "content")
    role = turn.get(role_key)
    roles = SHAREGPT_ROLES if sharegpt else {r: r for r in MESSAGE_ROLES}
    if role not in roles:
        raise RowError(f"{where}.{role_key}: {role!r} is not one of {', '.join(sorted(roles))}")
    out: dict[str, str | int] = {"role": roles[role], "content": text(turn.get(content_key), f"{where}.{content_key}")}
    weight = turn.get("weight")
    if weight is not None:  # OpenAI's fine-tuning convention: an assistant turn of weight 0 is context, not trained on
        if out["role"] != "assistant" or weight not in (0, 1) or isinstance(weight, bool):
            raise RowError(f"{where}.weight: {weight!r}: expected 0 or 1, on an assistant turn")
        out["weight"] = int(weight)
    return out


def conversation(turns: Any, sharegpt: bool, system: Any = None) -> list[dict]:
    key = "conversations" if sharegpt else "messages"
    if isinstance(turns, str):
        try:
            turns = parse_json(turns)  # CSV cells hold JSON text
        except DocumentProblem as exc:
            raise RowError(f"{key}: {exc.text()}") from None
        except json.JSONDecodeError:
            raise RowError(f"{key}: expected a list of turns, found text that is not JSON") from None
    if not isinstance(turns, list) or not turns:
        raise RowError(f"{key}: expected a non-empty list of turns")
    messages = [message(turn, i, sharegpt) for i, turn in enumerate(turns)]
    if isinstance(system, str) and system.strip() and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return messages


def prompt_completion(messages: list[dict], key: str) -> dict:
    if messages[-1]["role"] != "assistant":
        raise RowError(f"{key}: the last turn is from {messages[-1]['role']!r}; expected the assistant's reply last")
    if not any(m["role"] == "user" for m in messages[:-1]):
        raise RowError(f"{key}: no user turn before the assistant's reply")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def prompt_messages(value: Any, sharegpt: bool = False) -> list[dict]:
    messages = (
        [{"role": "user", "content": text(value, "prompt")}]
        if isinstance(value, str)
        else conversation(value, sharegpt)
    )
    if messages[-1]["role"] not in ("user", "tool"):
        raise RowError("prompt: expected it to end with a user turn")
    return messages


def tools(value: Any) -> list | None:
    """A row's function schemas: a list of objects, or JSON text of one (CSV/parquet cells)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = parse_json(value)
        except DocumentProblem as exc:
            raise RowError(f"tools: {exc.text()}") from None
        except json.JSONDecodeError:
            raise RowError("tools: expected a JSON list of function schemas, found text that is not JSON") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RowError("tools: expected a list of function schemas (objects)")
    return value or None


def with_tools(example: dict, data: dict) -> dict:
    schemas = tools(data.get("tools"))
    return {**example, "tools": schemas} if schemas else example


def present_keys(data: dict) -> set[str]:
    """The keys of a row that hold a value (None and "" count as absent)."""
    return {k for k, v in data.items() if v is not None and v != ""}
