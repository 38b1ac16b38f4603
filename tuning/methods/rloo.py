"""REINFORCE Leave-One-Out through trl's RLOOTrainer: each completion's baseline is the mean reward of the other
completions sampled for the same prompt. Rewards as for grpo; one of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import Getter, TrainingMethod
from llmdeck.tuning.methods.grpo import ONLINE_METRICS, examples, online_config_problems

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="rloo",
    order=6,
    formats=("prompt", "alpaca", "sharegpt", "messages"),
    sample="prompt_sample.jsonl",
    summary="REINFORCE leave-one-out",
    family="online RL",
    online=True,
    metric_prefixes=ONLINE_METRICS,
)
__all__ = ["METHOD", "build_trainer", "config_problems", "examples"]


def config_problems(get: Getter) -> list[str]:
    return online_config_problems(METHOD.name, get)


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
    from trl import RLOOConfig, RLOOTrainer

    from llmdeck.tuning.online import build_online_trainer

    return build_online_trainer(
        RLOOConfig,
        RLOOTrainer,
        model,
        tokenizer,
        train_dataset,
        eval_dataset,
        config,
        run_dir,
        device,
        callbacks,
        peft_config,
    )
