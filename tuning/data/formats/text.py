"""text: {"text"} (or plain .txt files), for continued pre-training: tokenized, joined with EOS, cut into blocks."""

from __future__ import annotations

from llmdeck.tuning.data import rows
from llmdeck.tuning.data.formats import DataFormat

FORMAT = DataFormat(
    name="text",
    order=3,
    shape='{"text"} or a .txt file',
    example={"text": "A paragraph of the domain's own prose."},
    chat_template=False,
)


def matches(data: dict, keys: set[str]) -> int:
    return "text" in keys


def convert(data: dict) -> dict:
    return {"text": rows.text(data.get("text"), "text")}
