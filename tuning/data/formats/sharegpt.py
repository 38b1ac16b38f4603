"""sharegpt: {"conversations": [{"from": human|gpt|system|function_call|observation, "value"}], "system"?, "tools"?}
(also under "messages" when its turns use "from")."""

from __future__ import annotations

from llmdeck.tuning.data import rows
from llmdeck.tuning.data.formats import DataFormat

FORMAT = DataFormat(
    name="sharegpt",
    order=1,
    shape='{"conversations": [{"from": "human"|"gpt"|..., "value"}], "system"?, "tools"?}',
    example={"conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello!"}]},
)


def matches(data: dict, keys: set[str]) -> int:
    return ("conversations" in keys) + ("messages" in keys and turns_use_from(data["messages"]))


def turns_use_from(turns) -> bool:
    first = turns[0] if isinstance(turns, list) and turns else {}
    return isinstance(first, dict) and "from" in first


def convert(data: dict) -> dict:
    turns = data.get("conversations", data.get("messages"))
    return rows.with_tools(
        rows.prompt_completion(rows.conversation(turns, True, data.get("system")), "conversations"), data
    )
