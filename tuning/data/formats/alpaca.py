"""alpaca: {"instruction", "input"?, "output", "system"?}, one instruction and its reply."""

from __future__ import annotations

from llmdeck.tuning.data import rows
from llmdeck.tuning.data.formats import DataFormat

FORMAT = DataFormat(
    name="alpaca",
    order=0,
    shape='{"instruction", "output", "input"?, "system"?}',
    example={"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
)


def matches(data: dict, keys: set[str]) -> int:
    return {"instruction", "output"} <= keys


def convert(data: dict) -> dict:
    instruction = rows.text(data.get("instruction"), "instruction")
    extra = data.get("input")
    if extra is not None and not isinstance(extra, str):
        raise rows.RowError(f"input: expected a string, found {type(extra).__name__}")
    user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    messages = [
        {"role": "user", "content": user},
        {"role": "assistant", "content": rows.text(data.get("output"), "output")},
    ]
    if isinstance(data.get("system"), str) and data["system"].strip():
        messages.insert(0, {"role": "system", "content": data["system"]})
    return rows.prompt_completion(messages, "output")
