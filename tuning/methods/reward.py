"""Reward models through trl's RewardTrainer: a one-output sequence-classification head on the base, trained so the
chosen reply scores above the rejected one. The run's artifact scores text (`llmdeck reward score`) and can be the
reward of a grpo/rloo run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import TrainingMethod, pairs_only, preference_refusal

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="reward",
    order=4,
    formats=("preference",),
    sample="preference_sample.jsonl",
    summary="a reward model",
    family="preference",
    note=" (a reward model)",
    head=("AutoModelForSequenceClassification", "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"),
    use_command="llmdeck reward score",
    sequences_per_row=2,
    vocab_logits=False,
    metric_prefixes=("accuracy", "margin"),
)
TASK_TYPE = "SEQ_CLS"  # peft trains the new score head whole (modules_to_save) beside the adapter


data_refusal = preference_refusal(METHOD.name)
examples = pairs_only(METHOD.name)


def load_model(base, dtype, quantization, config: TrainConfig, rows: list[dict]):
    from llmdeck.tuning.models import load_base_model

    return load_base_model(base, dtype, quantization, auto_class="AutoModelForSequenceClassification", num_labels=1)


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
    from trl import RewardConfig, RewardTrainer

    from llmdeck.tuning.recipe import floor_warmup, trainer_arguments

    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    args = RewardConfig(**trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None))
    return floor_warmup(RewardTrainer)(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config,
    )


def task_info(model, config: TrainConfig) -> dict:
    return {"task": "reward", "head": "AutoModelForSequenceClassification", "num_labels": 1}


def predict(model, tokenizer, run, text: str, context: str | None, top_k: int) -> dict:
    """The reward score of `text`."""
    from llmdeck.tuning.reward_scores import score_texts

    return {"score": score_texts(model, tokenizer, [text])[0]}
