"""Direct Preference Optimization through trl's DPOTrainer (the LoRA-disabled base is the reference)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import TrainingMethod, pairs_only, preference_refusal

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="dpo",
    order=1,
    formats=("preference",),
    sample="preference_sample.jsonl",
    summary="direct preference optimization",
    family="preference",
    sequences_per_row=2,
    reference_forward=True,
    metric_prefixes=("rewards/",),
)


data_refusal = preference_refusal(METHOD.name)
examples = pairs_only(METHOD.name)


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
    from trl import DPOConfig, DPOTrainer

    from llmdeck.tuning.recipe import beta, floor_warmup, trainer_arguments

    args = DPOConfig(**trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None), **beta(config))
    return floor_warmup(DPOTrainer)(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config,
    )
