"""Kahneman-Tversky Optimization through trl's KTOTrainer: unpaired completions labelled desirable or not."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.recipe import Device, beta, floor_warmup, trainer_arguments


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import KTOConfig, KTOTrainer

    # trl's default sequential sampling keeps each row beside the neighbour its KL term is estimated against
    args = KTOConfig(**trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None), **beta(config))
    return floor_warmup(KTOTrainer)(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                                    processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
