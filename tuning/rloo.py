"""REINFORCE Leave-One-Out through trl's RLOOTrainer: each completion's baseline is the mean reward of the other
completions sampled for the same prompt. Rewards as for grpo; one of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.online import online_arguments, timed
from llmdeck.tuning.recipe import Device, floor_warmup


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import RLOOConfig, RLOOTrainer

    from llmdeck.tuning.rewards import reward_functions

    funcs, classes = reward_functions(config, model.dtype)
    args = RLOOConfig(**online_arguments(config, run_dir, device, has_eval=eval_dataset is not None))
    return floor_warmup(timed(RLOOTrainer))(model=model, reward_funcs=funcs, reward_processing_classes=classes, args=args,
                                            train_dataset=train_dataset, eval_dataset=eval_dataset,
                                            processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
