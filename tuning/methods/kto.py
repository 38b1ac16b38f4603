"""Kahneman-Tversky Optimization through trl's KTOTrainer: unpaired completions labelled desirable or not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import Getter, TrainingMethod, preference_refusal

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="kto",
    order=3,
    formats=("preference",),
    sample="kto_sample.jsonl",
    summary="Kahneman-Tversky optimization",
    family="preference",
    sequences_per_row=2,  # the row and its KL partner
    metric_prefixes=("rewards/", "kl", "kto"),
)


def config_problems(get: Getter) -> list[str]:
    if get("batch_size") < 2:
        return ["batch_size: kto needs at least 2 rows per batch (its KL term pairs each row with another)"]
    return []


data_refusal = preference_refusal(METHOD.name)


def examples(example: dict) -> list[dict]:
    """Pairs become two labelled rows (chosen: desirable, rejected: not); labelled rows stay as they are."""
    from llmdeck.tuning.data.formats.preference import unpair

    return unpair(example)


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
    from trl import KTOConfig, KTOTrainer

    from llmdeck.tuning.recipe import beta, floor_warmup, trainer_arguments

    # trl's default sequential sampling keeps each row beside the neighbour its KL term is estimated against
    args = KTOConfig(**trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None), **beta(config))
    return floor_warmup(KTOTrainer)(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config,
    )
