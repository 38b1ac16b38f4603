"""REINFORCE Leave-One-Out through trl's RLOOTrainer: each completion's baseline is the mean reward of the other
completions sampled for the same prompt. Rewards as for grpo; one of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.online import build_online_trainer
from llmdeck.tuning.recipe import Device


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl import RLOOConfig, RLOOTrainer

    return build_online_trainer(RLOOConfig, RLOOTrainer, model, tokenizer, train_dataset, eval_dataset, config, run_dir,
                                device, callbacks, peft_config)
