"""Token statistics of prepared examples under a tokenizer (what `data check` and a launch plan show), the eval
hold-out, and the `datasets.Dataset` the trainers take."""

from __future__ import annotations

import json
from collections.abc import Iterator

from llmdeck.tuning.data.prepare import PreparedData

MEASURED_ROWS = 5000  # token stats and truncation of bigger datasets come from an even sample


def measure(prepared: PreparedData, tokenizer, max_length: int | None) -> None:
    """Fill the report's token stats, text blocks and truncation under `tokenizer` (a sample of big datasets)."""
    from llmdeck.tuning import render

    examples = prepared.examples
    sample = (
        examples
        if len(examples) <= MEASURED_ROWS
        else [examples[i] for i in range(0, len(examples), len(examples) // MEASURED_ROWS)][:MEASURED_ROWS]
    )
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
            yield len(
                tokenizer.apply_chat_template(
                    example["prompt"],
                    tokenize=True,
                    return_dict=False,
                    add_generation_prompt=True,
                    tools=_tools_list(example),
                )
            )
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

    stats = {
        "count": len(lengths),
        "total": sum(lengths),
        "min": lengths[0],
        "mean": round(sum(lengths) / len(lengths), 1),
        "p50": pct(0.5),
        "p95": pct(0.95),
        "max": lengths[-1],
    }
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
