"""`llmdeck reward score RUN --data FILE`: what a reward model (a finished `method: reward` run) thinks of each row:
preference pairs get both sides scored (and the share the model ranks right), other rows one score each."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.core.errors import BadInput
from llmdeck.core.textfiles import missing_reason
from llmdeck.tuning import data

SCORE_BATCH = 8


@dataclass
class ScoreReport:
    run_id: str
    source: str
    format: str
    rows: list[dict] = field(
        default_factory=list
    )  # {"location", "score"} or {"location", "chosen", "rejected", "margin"}
    mean_score: float | None = None
    pairs: int = 0
    pair_accuracy: float | None = None  # share of pairs whose chosen side scores higher

    def to_dict(self) -> dict:
        return asdict(self)


def score_file(run_ref: str, path: str | Path, batch_size: int = SCORE_BATCH) -> ScoreReport:
    """Score every row of `path` (any training format) with the reward run; bad rows refuse the file."""
    from llmdeck.tuning.heads import finished_task_run, load_task_model

    run = finished_task_run(run_ref, ("reward",))
    source = Path(path).expanduser()
    if not source.exists():
        raise BadInput(f"--data {path}: {missing_reason(source)}")
    rows, bad = data.read_rows(source)
    if not rows:
        reason = f" ({len(bad)} unparseable, first at {bad[0].location}: {bad[0].problem})" if bad else ""
        raise BadInput(f"{source}: no rows{reason}")
    fmt = data.detect_format(rows)
    items, problems = [], list(bad)
    for row in rows:
        try:
            items.append((row.location, sides(data.convert_row(row.data, fmt))))
        except data.RowError as exc:
            problems.append(data.BadRow(row.location, str(exc)))
    if problems:
        first = problems[0]
        raise BadInput(f"{source}: {len(problems)} bad row(s), first at {first.location}: {first.problem}")
    model, tokenizer = load_task_model(run.id, methods=("reward",))
    model.eval()
    flat = [conversation for _, conversations in items for conversation in conversations]
    scores = iter(score_texts(model, tokenizer, [render(c, tokenizer) for c in flat], batch_size))
    report = ScoreReport(run.id, str(source), fmt)
    for location, conversations in items:
        if len(conversations) == 2:
            chosen, rejected = next(scores), next(scores)
            report.rows.append(
                {"location": location, "chosen": chosen, "rejected": rejected, "margin": chosen - rejected}
            )
        else:
            report.rows.append({"location": location, "score": next(scores)})
    singles = [row["score"] for row in report.rows if "score" in row]
    pairs = [row for row in report.rows if "margin" in row]
    report.mean_score = sum(singles) / len(singles) if singles else None
    report.pairs = len(pairs)
    report.pair_accuracy = sum(row["margin"] > 0 for row in pairs) / len(pairs) if pairs else None
    return report


def sides(example: dict) -> list:
    """What to score for a converted row: both sides of a pair, else the one conversation (or text)."""
    if "chosen" in example:
        return [example["prompt"] + example["chosen"], example["prompt"] + example["rejected"]]
    if "completion" in example:
        return [example["prompt"] + example["completion"]]
    if "answer" in example:
        return [example["prompt"] + [{"role": "assistant", "content": example["answer"]}]]
    if "text" in example:
        return [example["text"]]
    raise data.RowError("expected conversations, preference pairs or text to score")


def render(conversation, tokenizer) -> str:
    """A conversation as the reward model read it in training (its chat template); text as it is."""
    if isinstance(conversation, str):
        return conversation
    return tokenizer.apply_chat_template(conversation, tokenize=False)


def score_texts(model, tokenizer, texts: list[str], batch_size: int = SCORE_BATCH) -> list[float]:
    """The reward head's output for each text (right-padded batches; the head reads the last real token)."""
    import torch

    scores = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            padding_side="right",
            add_special_tokens=False,
            truncation=True,
            max_length=4096,
        )
        with torch.inference_mode():
            scores += [float(value) for value in model(**batch).logits[:, 0]]
    return scores
