"""Odds Ratio Preference Optimization through trl's ORPOTrainer (trl.experimental in trl 1.x): no reference model."""

from __future__ import annotations

from pathlib import Path

from tuning.config import TrainConfig
from tuning.recipe import Device, trainer_arguments


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    shared = trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None)
    args = ORPOConfig(**shared, beta=config.beta, max_completion_length=config.max_length // 2)
    return ORPOTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                       processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
