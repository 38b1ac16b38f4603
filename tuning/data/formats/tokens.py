"""tokens: {"tokens": [words], "tags": [one label per word]} (or CoNLL-style "ner_tags") for token classification."""

from __future__ import annotations

from llmdeck.tuning.data.formats import DataFormat
from llmdeck.tuning.data.rows import RowError

FORMAT = DataFormat(
    name="tokens",
    order=6,
    shape='{"tokens": [words], "tags": [a label per word]}',
    example={"tokens": ["Ada", "lives", "in", "London"], "tags": ["B-PER", "O", "O", "B-LOC"]},
    decisive=1,
    chat_template=False,
)


def matches(data: dict, keys: set[str]) -> int:
    return "tokens" in keys and bool(keys & {"tags", "ner_tags"})


def convert(data: dict) -> dict:
    tokens, key = data.get("tokens"), "tags" if "tags" in data else "ner_tags"
    tags = data.get(key)
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise RowError("tokens: expected a non-empty list of words (strings)")
    if not isinstance(tags, list) or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in tags):
        raise RowError(f"{key}: expected a list of labels (one per word)")
    if len(tags) != len(tokens):
        raise RowError(f"{key}: {len(tags)} labels for {len(tokens)} tokens; expected one label per word")
    return {"tokens": tokens, "tags": [str(tag) for tag in tags]}
