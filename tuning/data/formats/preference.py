"""preference: {"prompt"?, "chosen", "rejected"} as strings or message lists, or sharegpt-style
{"conversations": [...], "chosen": {"from", "value"}, "rejected": {...}}; or unpaired (KTO's form)
{"prompt", "completion", "label": true|false}. Pairs become {prompt, chosen, rejected} message lists."""

from __future__ import annotations

from typing import Any

from llmdeck.tuning.data import errors, rows
from llmdeck.tuning.data.formats import DataFormat
from llmdeck.tuning.data.rows import RowError

FORMAT = DataFormat(
    name="preference",
    order=4,
    decisive=0,
    shape='{"prompt"?, "chosen", "rejected"} or {"prompt", "completion", "label": true|false}',
    example={"prompt": "Hi?", "chosen": "Hello! How can I help?", "rejected": "Go away."},
)


def matches(data: dict, keys: set[str]) -> int:
    return {"chosen", "rejected"} <= keys or {"completion", "label"} <= keys


def convert(data: dict) -> dict:
    return labelled(data) if "label" in data and "chosen" not in data else paired(data)


def side(value: Any, key: str, sharegpt: bool) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": rows.text(value, key)}]
    if isinstance(value, dict):  # sharegpt-style: one message
        message = rows.message(value, 0, sharegpt="from" in value)
        if message["role"] != "assistant":
            raise RowError(f"{key}: expected an assistant message, found role {message['role']!r}")
        return [{**message, "role": "assistant"}]
    if isinstance(value, list):
        return rows.conversation(value, sharegpt)
    raise RowError(f"{key}: expected a string, a message or a list of messages, found {type(value).__name__}")


def paired(data: dict) -> dict:
    sharegpt = "conversations" in data
    chosen = side(data.get("chosen"), "chosen", sharegpt)
    rejected = side(data.get("rejected"), "rejected", sharegpt)
    prompt_value = data.get("conversations", data.get("prompt"))
    if prompt_value is None:  # implicit prompt: the shared beginning of both conversations
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    elif isinstance(prompt_value, str):
        prompt = [{"role": "user", "content": rows.text(prompt_value, "prompt")}]
    else:
        prompt = rows.conversation(prompt_value, sharegpt, data.get("system"))
    if not prompt or prompt[-1]["role"] not in ("user", "tool"):
        raise RowError("prompt: expected it to end with a user turn")
    for key, reply in (("chosen", chosen), ("rejected", rejected)):
        if not reply or reply[-1]["role"] != "assistant":
            raise RowError(f"{key}: expected the assistant's reply")
    if chosen == rejected:
        raise RowError("chosen and rejected are identical")
    return rows.with_tools({"prompt": prompt, "chosen": chosen, "rejected": rejected}, data)


def labelled(data: dict) -> dict:
    """The unpaired form: one completion marked desirable (true) or undesirable (false)."""
    label = data.get("label")
    if isinstance(label, str) and label.strip().lower() in ("true", "false", "1", "0"):  # CSV cells
        label = label.strip().lower() in ("true", "1")
    if isinstance(label, int) and not isinstance(label, bool) and label in (0, 1):
        label = bool(label)
    if not isinstance(label, bool):
        raise RowError(f"label: expected true (a desirable completion) or false, found {label!r}")
    sharegpt = "conversations" in data
    prompt = rows.prompt_messages(data.get("conversations", data.get("prompt")), sharegpt)
    return rows.with_tools(
        {"prompt": prompt, "completion": side(data.get("completion"), "completion", sharegpt), "label": label}, data
    )


def unpair(example: dict) -> list[dict]:
    """A pair as two labelled rows (chosen: desirable, rejected: not); labelled rows stay as they are."""
    if "chosen" not in example:
        return [example]
    return [
        {"prompt": example["prompt"], "completion": example["chosen"], "label": True},
        {"prompt": example["prompt"], "completion": example["rejected"], "label": False},
    ]


def require_pairs(example: dict, method: str) -> list[dict]:
    """The row, refused when it is the labelled form a paired method cannot train on."""
    if "label" in example:
        raise RowError(errors.unpaired_row(method))
    return [example]
