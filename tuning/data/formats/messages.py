"""messages: {"messages": [{"role": system|user|assistant|tool, "content"}], "tools"?}, OpenAI-style chat."""

from __future__ import annotations

from llmdeck.tuning.data import rows
from llmdeck.tuning.data.formats import DataFormat
from llmdeck.tuning.data.formats.sharegpt import turns_use_from

FORMAT = DataFormat(
    name="messages",
    order=2,
    shape='{"messages": [{"role": "user"|"assistant"|..., "content"}], "tools"?}',
    example={"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello!"}]},
)


def matches(data: dict, keys: set[str]) -> int:
    return "messages" in keys and not turns_use_from(data["messages"])


def convert(data: dict) -> dict:
    return rows.with_tools(rows.prompt_completion(rows.conversation(data.get("messages"), False), "messages"), data)
