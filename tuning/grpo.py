"""Group Relative Policy Optimization through trl's GRPOTrainer: for each prompt the policy samples
num_generations completions, the rewards (rules, your function, a reward model) score them, and each completion
is pushed up or down by how it compares with its group. One of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.online import build_online_trainer
from llmdeck.tuning.recipe import Device


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import GRPOConfig, GRPOTrainer

    return build_online_trainer(GRPOConfig, GRPOTrainer, model, tokenizer, train_dataset, eval_dataset, config, run_dir,
                                device, callbacks, peft_config)
