"""What grpo and rloo share: trl's config arguments for online RL, and the split of each logged interval into
generation (sampling completions and scoring them) and training time, with completions per second."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.recipe import Device, TrainerClass, beta, floor_warmup, mixed_in, trainer_arguments

if TYPE_CHECKING:  # what TimedOnline extends; at run time a plain class (trl loads late)
    from trl import GRPOTrainer as OnlineTrainerBase
else:
    OnlineTrainerBase = object


def online_arguments(config: TrainConfig, run_dir: Path, device: Device, has_eval: bool) -> dict:
    """trl GRPOConfig/RLOOConfig keyword arguments: the shared ones plus sampling (their configs have no
    max_length: prompts are left whole, completions stop at max_completion_length)."""
    shared = trainer_arguments(config, run_dir, device, has_eval)
    shared.pop("max_length")
    return {
        **shared,
        **beta(config),
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "temperature": config.temperature,
        "log_completions": False,
    }


class TimedOnline(OnlineTrainerBase):
    """Training log rows carry generation_s, train_s, samples_per_s (completions per second of wall time) and
    generation_tokens_per_s for the interval since the previous row."""

    _llmdeck_train_start: float | None = None  # when train() began
    _llmdeck_window_start: float | None = None  # when the interval of the previous log row ended

    def _generate_and_score_completions(self, inputs):
        start = time.perf_counter()
        output = super()._generate_and_score_completions(inputs)
        assert self.model is not None  # the Trainer holds its model from __init__ on
        if self.model.training:
            counts = self.__dict__.setdefault("_llmdeck_window", {"generation_s": 0.0, "samples": 0, "tokens": 0})
            counts["generation_s"] += time.perf_counter() - start
            counts["samples"] += int(output["completion_ids"].shape[0])
            counts["tokens"] += int(output["completion_mask"].sum()) if "completion_mask" in output else 0
        return output

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs:
            now = time.perf_counter()
            window_start = self._llmdeck_window_start or self._llmdeck_train_start or now
            counts = self.__dict__.pop("_llmdeck_window", {"generation_s": 0.0, "samples": 0, "tokens": 0})
            wall = max(now - window_start, 1e-9)
            generation = counts["generation_s"]
            logs["generation_s"] = round(generation, 3)
            logs["train_s"] = round(max(wall - generation, 0.0), 3)
            logs["samples_per_s"] = round(counts["samples"] / wall, 3)
            if generation > 0 and counts["tokens"]:
                logs["generation_tokens_per_s"] = round(counts["tokens"] / generation, 2)
            self._llmdeck_window_start = now
        super().log(logs, start_time)

    def train(self, *args, **kwargs):
        self._llmdeck_train_start = time.perf_counter()
        return super().train(*args, **kwargs)


def timed(trainer_class: TrainerClass) -> TrainerClass:
    """`trainer_class` (GRPOTrainer, RLOOTrainer) with its generation and training time logged (TimedOnline)."""
    return mixed_in(TimedOnline, trainer_class, "Timed")


def build_online_trainer(
    config_class,
    trainer_class,
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
    """A trl online RL trainer (GRPO, RLOO: the same arguments) with the run's rewards, timed generation and
    the warmup floor."""
    from llmdeck.tuning.rewards import reward_functions

    funcs, classes = reward_functions(config, model.dtype)
    args = config_class(**online_arguments(config, run_dir, device, has_eval=eval_dataset is not None))
    return floor_warmup(timed(trainer_class))(
        model=model,
        reward_funcs=funcs,
        reward_processing_classes=classes,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config,
    )
