"""Token classification (named entities, tags per word) with transformers' AutoModelForTokenClassification head,
DataCollatorForTokenClassification and Trainer; entity-level precision/recall/F1 by seqeval."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import ENCODER_TUNINGS, TrainingMethod

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="token-cls",
    order=7,
    formats=("tokens",),
    sample="ner_sample.jsonl",
    summary="token classification",
    family="encoder heads",
    encoder=True,
    head=("AutoModelForTokenClassification", "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES"),
    tunings=ENCODER_TUNINGS,
    vocab_logits=False,
    metric_prefixes=("f1", "precision", "recall", "accuracy"),
)

TASK_TYPE = "TOKEN_CLS"  # peft trains the new classifier whole beside the adapter
EXCLUDE = r"(.*\.)?classifier"  # the head is trained whole (modules_to_save), not adapted
IGNORED = -100  # sub-word pieces after a word's first, and special tokens: no label


def labels_of(rows: list[dict]) -> list[str]:
    """Every tag in the data, "O" first when present (a stable order for the head's outputs)."""
    tags = sorted({tag for row in rows for tag in row["tags"]})
    return (["O"] if "O" in tags else []) + [tag for tag in tags if tag != "O"]


def load_model(base, dtype, quantization, config: TrainConfig, rows: list[dict]):
    from llmdeck.tuning.heads import head_arguments
    from llmdeck.tuning.models import load_base_model

    return load_base_model(
        base,
        dtype,
        quantization,
        auto_class="AutoModelForTokenClassification",
        **head_arguments({"labels": labels_of(rows)}),
    )


def training_dataset(rows: list[dict], tokenizer, config: TrainConfig):
    from llmdeck.tuning import data

    return data.to_dataset(rows)  # tokenized in build_trainer, where the head's label ids are known


def encode(rows, tokenizer, label2id: dict, max_length: int):
    """Words -> sub-word ids; each word's label on its first piece, IGNORED elsewhere."""
    from llmdeck.tuning import data

    encoded = []
    for row in rows:
        tokens = tokenizer(row["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        labels, previous = [], None
        for word in tokens.word_ids():
            labels.append(IGNORED if word is None or word == previous else label2id[row["tags"][word]])
            previous = word
        encoded.append({"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"], "labels": labels})
    return data.to_dataset(encoded)


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
    from transformers import DataCollatorForTokenClassification

    from llmdeck.tuning.encoder import task_trainer, training_arguments

    label2id = model.config.label2id
    train = encode(train_dataset, tokenizer, label2id, config.max_length)
    held = encode(eval_dataset, tokenizer, label2id, config.max_length) if eval_dataset is not None else None
    if peft_config is not None:
        model = get_peft_model(model, peft_config)
    return task_trainer()(
        model=model,
        args=training_arguments(config, run_dir, device, held is not None),
        train_dataset=train,
        eval_dataset=held,
        processing_class=tokenizer,
        callbacks=callbacks,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=entity_metrics(model.config.id2label),
    )


def entity_metrics(id2label: dict):
    """compute_metrics: seqeval's entity-level precision, recall and F1 (and token accuracy) on the eval split."""

    def compute(prediction) -> dict:
        import numpy as np
        from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

        predicted = np.argmax(prediction.predictions, axis=-1)
        gold, guessed = [], []
        for labels, guesses in zip(prediction.label_ids, predicted):
            kept = [(label, guess) for label, guess in zip(labels, guesses) if label != IGNORED]
            gold.append([id2label[int(label)] for label, _ in kept])
            guessed.append([id2label[int(guess)] for _, guess in kept])
        return {
            "f1": f1_score(gold, guessed, zero_division=0),
            "precision": precision_score(gold, guessed, zero_division=0),
            "recall": recall_score(gold, guessed, zero_division=0),
            "accuracy": accuracy_score(gold, guessed),
        }

    return compute


def task_info(model, config: TrainConfig) -> dict:
    id2label = model.config.id2label
    return {"task": "token-cls", "labels": [id2label[i] for i in range(len(id2label))]}


def predict(model, tokenizer, run, text: str, context: str | None, top_k: int) -> dict:
    return tag(model, tokenizer, text)


def tag(model, tokenizer, text: str) -> dict:
    """Each whitespace-separated word of `text` with its label, and the entities those labels spell."""
    import torch
    from seqeval.metrics.sequence_labeling import get_entities

    words = text.split()
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(
            **{k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        ).logits[0]
    predicted: list[str | None] = [None] * len(words)  # a label for each word's first token
    previous = None
    for position, word in enumerate(encoded.word_ids()):
        if word is not None and word != previous:
            predicted[word] = model.config.id2label[int(logits[position].argmax())]
        previous = word
    labels = [label or "O" for label in predicted]
    entities = [
        {"type": kind, "text": " ".join(words[start : end + 1]), "start_word": start, "end_word": end}
        for kind, start, end in get_entities(labels)
    ]
    return {"words": [{"word": w, "label": label} for w, label in zip(words, labels)], "entities": entities}
