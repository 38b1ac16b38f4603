"""Masked-language modelling with transformers' AutoModelForMaskedLM head and DataCollatorForLanguageModeling
(mlm_probability of the tokens masked); perplexity (exp of the loss) logged beside each loss."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import ENCODER_TUNINGS, TrainingMethod

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="mlm",
    order=9,
    formats=("text",),
    sample="mlm_sample.jsonl",
    summary="masked-language modelling",
    family="encoder heads",
    encoder=True,
    head=("AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING_NAMES"),
    head_hint=" (masked-LM needs an encoder such as BERT; the default base is the embedded all-MiniLM-L6-v2)",
    tunings=ENCODER_TUNINGS,
    metric_prefixes=("perplexity",),
)

TASK_TYPE = None  # peft has no masked-LM task type: a plain adapter on the encoder
HEAD = ["transform"]  # the prediction head's transform layer (new on sentence-embedding checkpoints), trained whole
EXCLUDE = r"(.*\.)?cls\..*"  # no adapter inside the prediction head (its decoder is tied to the embeddings)


def load_model(base, dtype, quantization, config: TrainConfig, rows: list[dict]):
    from llmdeck.tuning.models import load_base_model

    return load_base_model(base, dtype, quantization, auto_class="AutoModelForMaskedLM")


def training_dataset(rows: list[dict], tokenizer, config: TrainConfig):
    """Each document cut into max_length windows, special tokens ([CLS] ... [SEP]) added to each."""
    from llmdeck.tuning import data

    blocks = []
    for row in rows:
        encoded = tokenizer(row["text"], truncation=True, max_length=config.max_length, return_overflowing_tokens=True)
        blocks += [
            {"input_ids": ids, "attention_mask": mask}
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])
        ]
    return data.to_dataset(blocks)


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
    from transformers import DataCollatorForLanguageModeling

    from llmdeck.tuning.encoder import task_trainer, training_arguments

    if peft_config is not None:
        model = get_peft_model(model, peft_config)
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm=True, mlm_probability=config.mlm_probability, seed=config.seed
    )
    return task_trainer(perplexity=True)(
        model=model,
        args=training_arguments(config, run_dir, device, eval_dataset is not None),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        data_collator=collator,
    )


def task_info(model, config: TrainConfig) -> dict:
    return {"task": "mlm"}


def predict_problem(run, text: str, context: str | None) -> str | None:
    if "[MASK]" not in text and "<mask>" not in text:
        return "predict: a masked-LM run fills masks; put [MASK] where a word should go"
    return None


def predict(model, tokenizer, run, text: str, context: str | None, top_k: int) -> dict:
    return fill(model, tokenizer, text, top_k)


def fill(model, tokenizer, text: str, top_k: int = 5) -> dict:
    """The top_k fills of every mask in `text` ([MASK], or the tokenizer's own mask token)."""
    import torch

    text = text.replace("[MASK]", tokenizer.mask_token) if tokenizer.mask_token else text
    encoded = tokenizer(text, return_tensors="pt", truncation=True)
    positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    with torch.inference_mode():
        logits = model(**encoded).logits[0]
    masks = []
    for position in positions:
        probabilities = logits[position].softmax(-1)
        top = probabilities.topk(top_k)
        masks.append(
            [
                {"token": tokenizer.decode([int(i)]).strip(), "score": round(float(p), 4)}
                for p, i in zip(top.values, top.indices)
            ]
        )
    return {"masks": masks}
