"""Odds Ratio Preference Optimization through trl's ORPOTrainer (trl.experimental in trl 1.x): no reference model."""

from __future__ import annotations

from pathlib import Path

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.recipe import Device, beta, floor_warmup, trainer_arguments


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config: TrainConfig, run_dir: Path,
                  device: Device, callbacks: list, peft_config):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    shared = trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None)
    args = ORPOConfig(**shared, **beta(config), max_completion_length=config.max_length // 2)
    return floor_warmup(_token_counting(ORPOTrainer))(model=model, args=args, train_dataset=train_dataset,
                                        eval_dataset=eval_dataset, processing_class=tokenizer, callbacks=callbacks,
                                        peft_config=peft_config)


def _token_counting(base):
    """ORPOTrainer whose tokens-seen count (tokens/s in the metrics) covers chosen + rejected sequences.

    The Trainer counts `input_ids`, which ORPO batches lack (they hold chosen_/rejected_ columns).
    """
    class TokenCountingORPOTrainer(base):
        def _track_num_input_tokens(self, inputs):
            masks = [inputs[key] for key in ("chosen_attention_mask", "rejected_attention_mask") if key in inputs]
            if not masks or self.args.include_num_input_tokens_seen == "no":
                return super()._track_num_input_tokens(inputs)
            import torch

            seen = torch.as_tensor(sum(int(mask.sum()) for mask in masks), device=self.args.device, dtype=torch.int64)
            self.state.num_input_tokens_seen += self.accelerator.gather(seen).sum().item()

    return TokenCountingORPOTrainer
