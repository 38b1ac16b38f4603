"""What the encoder task heads share: transformers' `Trainer` with the run's arguments, a final evaluation (so the
task metric is logged even when the run is shorter than eval_steps), and tokenization helpers."""

from __future__ import annotations

import math
from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.recipe import Device, floor_warmup, trainer_arguments


def training_arguments(config: TrainConfig, run_dir: Path, device: Device, has_eval: bool):
    from transformers import TrainingArguments

    shared = trainer_arguments(config, run_dir, device, has_eval)
    shared.pop("max_length")  # transformers' own arguments; lengths are set at tokenization
    return TrainingArguments(**shared, remove_unused_columns=False)


def task_trainer(perplexity: bool = False):
    """transformers' Trainer that evaluates once more at the end of a completed run and, for masked-LM, logs
    perplexity (exp of the loss) beside each training and eval loss."""
    from transformers import Trainer

    class TaskTrainer(Trainer):
        def train(self, *args, **kwargs):
            output = super().train(*args, **kwargs)
            finished = self.state.max_steps and self.state.global_step >= self.state.max_steps
            if finished and self.eval_dataset is not None and not _evaluated_at(self.state, self.state.global_step):
                self.evaluate()
            return output

        def log(self, logs: dict, start_time: float | None = None) -> None:
            if perplexity:
                for key, name in (("loss", "perplexity"), ("eval_loss", "eval_perplexity")):
                    if isinstance(logs.get(key), (int, float)):
                        logs[name] = round(math.exp(min(logs[key], 50.0)), 4)
            super().log(logs, start_time)

    return floor_warmup(TaskTrainer)


def _evaluated_at(state, step: int) -> bool:
    return any("eval_loss" in row and row.get("step") == step for row in state.log_history)
