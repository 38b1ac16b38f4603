"""Supervised fine-tuning through trl's SFTTrainer (packing, loss on the assistant's reply)."""

from __future__ import annotations

from pathlib import Path

from tuning.config import TrainConfig
from tuning.recipe import Device, trainer_arguments


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None),
        packing=config.packing,
        packing_strategy="bfd",
        completion_only_loss=config.assistant_only_loss,
        dataset_num_proc=None,
    )
    return SFTTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
