"""Group Relative Policy Optimization through trl's GRPOTrainer: for each prompt the policy samples
num_generations completions, the rewards (rules, your function, a reward model) score them, and each completion
is pushed up or down by how it compares with its group. One of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.online import online_arguments, timed
from llmdeck.tuning.recipe import Device, floor_warmup


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import GRPOConfig, GRPOTrainer

    from llmdeck.tuning.rewards import reward_functions

    funcs, classes = reward_functions(config, model.dtype)
    args = GRPOConfig(**online_arguments(config, run_dir, device, has_eval=eval_dataset is not None))
    return floor_warmup(timed(GRPOTrainer))(model=model, reward_funcs=funcs, reward_processing_classes=classes, args=args,
                                            train_dataset=train_dataset, eval_dataset=eval_dataset,
                                            processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
