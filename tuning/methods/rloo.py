"""REINFORCE Leave-One-Out through trl's RLOOTrainer: each completion's baseline is the mean reward of the other
completions sampled for the same prompt. Rewards as for grpo; one of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from dataclasses import replace

from llmdeck.tuning.methods import Getter, online_recipe
from llmdeck.tuning.methods.grpo import METHOD as GRPO
from llmdeck.tuning.methods.grpo import examples, online_config_problems

METHOD = replace(GRPO, name="rloo", order=6, summary="REINFORCE leave-one-out")  # grpo's formats, sample, metrics
__all__ = ["METHOD", "build_trainer", "config_problems", "examples"]


def config_problems(get: Getter) -> list[str]:
    return online_config_problems(METHOD.name, get)


build_trainer = online_recipe("RLOOConfig", "RLOOTrainer")
