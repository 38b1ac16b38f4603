"""Odds Ratio Preference Optimization through trl's ORPOTrainer (trl.experimental in trl 1.x): no reference model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import Getter, TrainingMethod, pairs_only, preference_refusal

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="orpo",
    order=2,
    formats=("preference",),
    sample="preference_sample.jsonl",
    summary="odds ratio preference optimization",
    family="preference",
    sequences_per_row=2,
    tools_rendered=False,
    metric_prefixes=("log_odds", "nll_loss"),
)


def tuning_problems(get: Getter) -> list[str]:
    return ["tuning: orpo runs with lora or full"] if get("tuning") in ("qlora", "lora-8bit") else []


data_refusal = preference_refusal(METHOD.name)
examples = pairs_only(METHOD.name)


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
    from trl.experimental.orpo import ORPOConfig

    from llmdeck.tuning.recipe import beta, floor_warmup, trainer_arguments

    shared = trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None)
    args = ORPOConfig(**shared, **beta(config), max_completion_length=config.max_length // 2)
    return floor_warmup(_token_counting())(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config,
    )


def _token_counting():
    """ORPOTrainer whose tokens-seen count (tokens/s in the metrics) covers chosen + rejected sequences.

    The Trainer counts `input_ids`, which ORPO batches lack (they hold chosen_/rejected_ columns).
    """
    from trl.experimental.orpo import ORPOTrainer

    class TokenCountingORPOTrainer(ORPOTrainer):
        def _track_num_input_tokens(self, inputs):
            masks = [inputs[key] for key in ("chosen_attention_mask", "rejected_attention_mask") if key in inputs]
            if not masks or self.args.include_num_input_tokens_seen == "no":
                return super()._track_num_input_tokens(inputs)
            import torch

            seen = torch.as_tensor(sum(int(mask.sum()) for mask in masks), device=self.args.device, dtype=torch.int64)
            self.state.num_input_tokens_seen += self.accelerator.gather(seen).sum().item()

    return TokenCountingORPOTrainer
