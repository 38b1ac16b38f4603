"""Extractive question answering with transformers' AutoModelForQuestionAnswering head (start/end logits over the
context), long contexts cut into overlapping windows (doc_stride); SQuAD exact match and F1 on the eval split."""

from __future__ import annotations

import collections
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import ENCODER_TUNINGS, TrainingMethod

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="extractive-qa",
    order=8,
    formats=("qa",),
    sample="qa_sample.jsonl",
    summary="extractive question answering",
    family="encoder heads",
    encoder=True,
    head=("AutoModelForQuestionAnswering", "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES"),
    tunings=ENCODER_TUNINGS,
    vocab_logits=False,
    metric_prefixes=("exact_match", "f1"),
)

TASK_TYPE = "QUESTION_ANS"  # peft trains the new qa_outputs head whole beside the adapter
EXCLUDE = r"(.*\.)?qa_outputs"  # the head is trained whole (modules_to_save), not adapted
MAX_ANSWER_TOKENS = 30


def load_model(base, dtype, quantization, config: TrainConfig, rows: list[dict]):
    from llmdeck.tuning.models import load_base_model

    return load_base_model(base, dtype, quantization, auto_class="AutoModelForQuestionAnswering")


def training_dataset(rows: list[dict], tokenizer, config: TrainConfig):
    from llmdeck.tuning import data

    return data.to_dataset(windows(rows, tokenizer, config.max_length, config.doc_stride))


def windows(rows: list[dict], tokenizer, max_length: int, doc_stride: int) -> list[dict]:
    """Question + context windows (the standard recipe): the answer's start/end token when the window holds it,
    else both on the first token ([CLS]: no answer here). Offsets and the row index are kept for evaluation."""
    features = []
    for index, row in enumerate(rows):
        encoded = tokenizer(
            row["question"],
            row["context"],
            truncation="only_second",
            max_length=max_length,
            stride=min(doc_stride, max_length // 2),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        start_char = row["answer_start"]
        end_char = start_char + len(row["answer_text"])
        for window in range(len(encoded["input_ids"])):
            sequence = encoded.sequence_ids(window)
            window_offsets = encoded["offset_mapping"][window]
            spans = {i: offset for i, offset in enumerate(window_offsets) if sequence[i] == 1}  # context token -> chars
            offsets = [spans.get(i) for i in range(len(window_offsets))]
            context_tokens = list(spans)
            start = end = 0
            inside = spans[context_tokens[0]][0] <= start_char and spans[context_tokens[-1]][1] >= end_char
            if row["answer_text"] and inside:
                start = next(i for i in context_tokens if spans[i][1] > start_char)
                end = next(i for i in reversed(context_tokens) if spans[i][0] < end_char)
            feature = {
                key: encoded[key][window] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded
            }
            features.append(
                {
                    **feature,
                    "start_positions": start,
                    "end_positions": end,
                    "row": index,
                    "offsets": [list(offset) if offset else [-1, -1] for offset in offsets],
                    "context": row["context"],
                    "answer_text": row["answer_text"],
                }
            )
    return features


def build_trainer(
    model,
    tokenizer,
    train_dataset,
    eval_dataset,
    config: TrainConfig,
    run_dir: Path,
    device: Device,
    callbacks: list,
    peft_config,
):
    from peft import get_peft_model
    from transformers import DataCollatorWithPadding

    from llmdeck.tuning.encoder import task_trainer, training_arguments

    if peft_config is not None:
        model = get_peft_model(model, peft_config)
    evaluation_only = ["row", "offsets", "context", "answer_text"]
    train = train_dataset.remove_columns(evaluation_only)
    held = eval_dataset.remove_columns(evaluation_only) if eval_dataset is not None else None
    metrics = span_metrics(eval_dataset.select_columns(evaluation_only).to_list()) if eval_dataset is not None else None
    return task_trainer()(
        model=model,
        args=training_arguments(config, run_dir, device, held is not None),
        train_dataset=train,
        eval_dataset=held,
        processing_class=tokenizer,
        callbacks=callbacks,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics,
    )


def span_metrics(eval_features: list[dict]):
    """compute_metrics: each eval row's best answer span over its windows, scored by SQuAD exact match and F1."""

    def compute(prediction) -> dict:
        start_logits, end_logits = prediction.predictions[:2]
        best: dict[int, tuple[float, str, str]] = {}  # row -> (score, predicted text, true answer)
        for i, feature in enumerate(eval_features):
            score, text = best_span(start_logits[i], end_logits[i], feature["offsets"], feature["context"])
            if feature["row"] not in best or score > best[feature["row"]][0]:
                best[feature["row"]] = (score, text, feature["answer_text"])
        exact = [exact_match(text, truth) for _, text, truth in best.values()]
        f1 = [token_f1(text, truth) for _, text, truth in best.values()]
        return {"exact_match": sum(exact) / len(exact) if exact else 0.0, "f1": sum(f1) / len(f1) if f1 else 0.0}

    return compute


def best_span(start_logits, end_logits, offsets, context: str) -> tuple[float, str]:
    """The highest start+end logit span inside the context, at most MAX_ANSWER_TOKENS long."""
    inside = [i for i, offset in enumerate(offsets) if offset and offset[0] >= 0]
    top_starts = sorted(inside, key=lambda i: -start_logits[i])[:20]
    top_ends = sorted(inside, key=lambda i: -end_logits[i])[:20]
    best = (float("-inf"), "")
    for start in top_starts:
        for end in top_ends:
            if start <= end < start + MAX_ANSWER_TOKENS:
                score = float(start_logits[start] + end_logits[end])
                if score > best[0]:
                    best = (score, context[offsets[start][0] : offsets[end][1]])
    return best


# SQuAD v1.1's evaluation: lower case, no punctuation or articles, whitespace collapsed
def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(prediction: str, truth: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(predicted) & collections.Counter(expected)
    same = sum(common.values())
    if not predicted or not expected:
        return float(predicted == expected)
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def task_info(model, config: TrainConfig) -> dict:
    return {"task": "extractive-qa", "max_length": config.max_length, "doc_stride": config.doc_stride}


def predict_problem(run, text: str, context: str | None) -> str | None:
    if not (context or "").strip():
        return f"run {run.id} answers questions from a context: pass --context TEXT (or @FILE)"
    return None


def predict(model, tokenizer, run, text: str, context: str | None, top_k: int) -> dict:
    from llmdeck.tuning.heads import task_info as saved_task_info

    info = saved_task_info(run.path / "adapter")
    return {
        "context": context,
        **answer(model, tokenizer, text, context or "", info.get("max_length", 384), info.get("doc_stride", 128)),
    }


def answer(model, tokenizer, question: str, context: str, max_length: int = 384, doc_stride: int = 128) -> dict:
    """The answer span of `context` for `question`, with its score and character offsets."""
    import torch

    features = windows(
        [{"question": question, "context": context, "answer_text": "", "answer_start": 0}],
        tokenizer,
        max_length,
        doc_stride,
    )
    best = (float("-inf"), "")
    for feature in features:
        inputs = {
            key: torch.tensor([feature[key]])
            for key in ("input_ids", "attention_mask", "token_type_ids")
            if key in feature
        }
        with torch.inference_mode():
            output = model(**inputs)
        candidate = best_span(
            output.start_logits[0].tolist(), output.end_logits[0].tolist(), feature["offsets"], context
        )
        best = max(best, candidate, key=lambda item: item[0])
    start = context.find(best[1]) if best[1] else -1
    return {"answer": best[1], "score": best[0], "start": start, "end": start + len(best[1]) if start >= 0 else -1}
