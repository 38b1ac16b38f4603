"""Direct Preference Optimization through trl's DPOTrainer (the LoRA-disabled base is the reference)."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.recipe import Device, beta, floor_warmup, trainer_arguments


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None), **beta(config))
    return floor_warmup(DPOTrainer)(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
