"""Supervised fine-tuning through trl's SFTTrainer (loss on every assistant turn, packing on GPUs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from llmdeck.tuning.methods import TrainingMethod, spoken_list, trains_on

if TYPE_CHECKING:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.recipe import Device

METHOD = TrainingMethod(
    name="sft",
    order=0,
    formats=("alpaca", "sharegpt", "messages", "text"),
    sample="sft_sample.jsonl",
    summary="supervised fine-tuning",
    soft_prompts=True,
    packs=True,
    metric_prefixes=("entropy",),
)
MODEL_INPUTS = ("input_ids", "attention_mask", "labels", "position_ids")


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
    from trl import SFTConfig, SFTTrainer

    from llmdeck.tuning.recipe import floor_warmup, trainer_arguments

    # padding-free packing needs varlen attention kernels (CUDA); on CPU the flattened batch attends over one
    # block-diagonal mask and measured slower than length-grouped batches
    packing = config.packing if config.packing is not None else device.kind == "cuda"
    sampling = "group_by_length" if config.group_by_length and not packing else "random"
    args = SFTConfig(
        **trainer_arguments(config, run_dir, device, has_eval=eval_dataset is not None),
        packing=packing,
        packing_strategy="bfd",
        train_sampling_strategy=sampling,
        completion_only_loss=config.assistant_only_loss,
        dataset_num_proc=None,
    )
    if config.assistant_only_loss:
        train_dataset = assistant_masked(train_dataset, tokenizer)
        eval_dataset = assistant_masked(eval_dataset, tokenizer) if eval_dataset is not None else None
    trainer_class = floor_warmup(SFTTrainer if device.kind == "cuda" else _model_loss_trainer())
    return trainer_class(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config,
    )


def data_refusal(fmt: str) -> str | None:
    if fmt == "preference":
        return f"preference data trains with --method {spoken_list(trains_on('preference'))}, not sft"
    return None


def assistant_masked(dataset, tokenizer):
    """Conversations -> `input_ids` + `assistant_masks` covering every assistant turn, not just the last.

    trl masks assistant turns itself only for chat templates with `{% generation %}` markers, which most GGUF
    templates (SmolLM2's included) lack; for prompt/completion rows it trains the final reply only. trl builds
    labels from `assistant_masks`, then truncates and packs as usual. Text blocks pass through unchanged.
    """
    if "prompt" not in dataset.column_names or "completion" not in dataset.column_names:
        return dataset
    import datasets

    from llmdeck.tuning.render import conversation_tokens

    def tools(row: dict) -> list | None:
        return json.loads(row["tools"]) if row.get("tools") else None

    return datasets.Dataset.from_list(
        [conversation_tokens(row["prompt"] + row["completion"], tokenizer, tools(row)) for row in dataset]
    )


def _model_loss_trainer():
    """SFTTrainer taking the model's own cross-entropy on the (masked) labels.

    trl's chunked fp32 LM head (which also computes entropy and token accuracy for its logs) took ~28%
    of a CPU step in profiles; the model's loss in its own dtype is the same objective, ~1.3x faster on CPU.
    """
    from transformers import Trainer
    from trl import SFTTrainer

    class ModelLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            model_inputs = {key: value for key, value in inputs.items() if key in MODEL_INPUTS}
            return Trainer.compute_loss(
                self, model, model_inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )

    return ModelLossSFTTrainer
