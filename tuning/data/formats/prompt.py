"""prompt: {"prompt": text or messages, "answer"?} for online RL (conversations work too, their last reply becoming
the answer)."""

from __future__ import annotations

from typing import Any

from llmdeck.tuning.data import rows
from llmdeck.tuning.data.formats import DataFormat

FORMAT = DataFormat(
    name="prompt",
    order=5,
    shape='{"prompt": text or messages, "answer"?}',
    example={"prompt": "What is 6 times 7?", "answer": "42"},
    decisive=3,
)
NOT_WITH = {"chosen", "rejected", "completion", "messages", "conversations", "text"}


def matches(data: dict, keys: set[str]) -> int:
    return "prompt" in keys and not keys & NOT_WITH


def convert(data: dict) -> dict:
    """An RL prompt, with the expected answer the exact-match reward compares against (optional)."""
    example: dict[str, Any] = {"prompt": rows.prompt_messages(data.get("prompt"))}
    answer = data.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if answer is not None and answer != "":
        example["answer"] = rows.text(answer, "answer")
    return rows.with_tools(example, data)


def with_answer(example: dict) -> list[dict]:
    """A converted conversation as an RL prompt: its prompt, its reply as the answer; prompts stay as they are."""
    if "completion" not in example:
        return [example]
    prompt = {"prompt": example["prompt"], "answer": example["completion"][-1]["content"]}
    return [{**prompt, "tools": example["tools"]} if example.get("tools") else prompt]
