"""What every method shares: the device and dtype, the LoRA/quantization setup, trainer arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from llmdeck.core.errors import BadInput
from llmdeck.core.hardware import cpu_bf16_support
from llmdeck.tuning.config import SOFT_PROMPT_TUNINGS, TrainConfig
from llmdeck.tuning.methods import get_method

if TYPE_CHECKING:  # what the trainer mixins extend; at run time they are plain classes (transformers loads late)
    from transformers import Trainer as TrainerBase
else:
    TrainerBase = object

BF16_BASE_TUNINGS = ("lora", "dora", "ia3")  # adapters kept in fp32 over a frozen bf16 base
TrainerClass = TypeVar("TrainerClass", bound=type)


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" | "cpu"
    dtype_name: str  # "float32" | "bfloat16" | "float16"
    reason: str = ""  # why this precision, for the launch line, the log and the registry
    autocast_bf16: bool = False  # fp32 weights, matmuls under bf16 autocast (the Trainer's bf16 mixed precision)

    @property
    def precision(self) -> str:
        """'bf16 (AMD EPYC 9R14: avx512_bf16)': the precision and why, in one phrase."""
        short = (
            "bf16 mixed"
            if self.autocast_bf16
            else {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[self.dtype_name]
        )
        return f"{short} ({self.reason})" if self.reason else short


def pick_device(config: TrainConfig) -> Device:
    """Device and weight dtype; `auto` on CPU uses bf16 only where the CPU really runs bf16 faster: a bf16 frozen
    base, or, where trained weights must stay fp32 (a new head, soft prompts, full tuning), fp32 weights under bf16
    autocast (what trl's configs turn on by default: twice as fast as fp32 for a reward model here)."""
    from llmdeck.core.hardware import cuda_device_possible

    cuda = False
    if cuda_device_possible():
        import torch

        cuda = torch.cuda.is_available()
    autocast = False
    if config.precision == "auto" and cuda:
        import torch

        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
        reason = f"auto: {torch.cuda.get_device_name(0)}"
    elif config.precision == "auto":  # frozen base in bf16 (native bf16 matmuls), LoRA weights stay fp32
        support = cpu_bf16_support()
        fp32_only = fp32_reason(config)
        dtype = "bfloat16" if not fp32_only and support["native_bf16"] else "float32"
        autocast = bool(fp32_only and support["native_bf16"])
        kept = "keeps fp32 weights under bf16 autocast" if autocast else "trains in fp32"
        reason = f"auto: {support['cpu']}: {support['detail']}" + (f"; {fp32_only} {kept}" if fp32_only else "")
    else:
        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[config.precision]
        reason = "set by precision"
    if not cuda and dtype == "float16":
        raise BadInput("precision: fp16 needs a GPU; use fp32 or bf16 on CPU")
    return Device("cuda" if cuda else "cpu", dtype, reason, autocast_bf16=autocast)


def fp32_reason(config: TrainConfig) -> str | None:
    """Why `auto` keeps a CPU run in fp32 even where bf16 is native: trained weights that would live in bf16."""
    if config.tuning == "full":
        return "full tuning"
    if config.tuning not in BF16_BASE_TUNINGS:
        return f"{config.tuning} tuning"
    if get_method(config.method).head:
        return f"{config.method} (a trained head)"
    return None


def check_quantization_supported(config: TrainConfig, device_kind: str) -> None:
    """QLoRA/8-bit LoRA only where bitsandbytes trains correctly (a CUDA GPU)."""
    if config.tuning in ("qlora", "lora-8bit") and device_kind != "cuda":
        raise BadInput(
            f"tuning: {config.tuning} needs a CUDA GPU (bitsandbytes' CPU backward gives NaN losses); "
            "use --tuning lora on this machine"
        )


def quantization_config(config: TrainConfig, compute_dtype):
    if config.tuning == "qlora":
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    if config.tuning == "lora-8bit":
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def adapter_config(
    config: TrainConfig, task_type: str | None = "CAUSAL_LM", head: list[str] | None = None, exclude: str | None = None
):
    """peft's own config for `config.tuning` (None for full tuning); `head` names new task heads trained whole,
    `exclude` (a regular expression over module names) keeps adapters off the task head's own layers."""
    if config.tuning == "full":
        return None
    import peft

    task_type = task_type or None  # None: peft's own default (no task type)
    if config.tuning in SOFT_PROMPT_TUNINGS:
        kind = {
            "prompt": peft.PromptTuningConfig,
            "prefix": peft.PrefixTuningConfig,
            "ptuning": peft.PromptEncoderConfig,
        }
        return kind[config.tuning](num_virtual_tokens=config.num_virtual_tokens, task_type=task_type)
    if config.tuning == "ia3":
        targets = None if config.lora_target_modules == "all-linear" else config.lora_target_modules
        return peft.IA3Config(
            target_modules=targets,
            feedforward_modules=[] if targets else None,
            modules_to_save=head,
            exclude_modules=exclude if targets else None,
            task_type=task_type,
        )
    return peft.LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        bias="none",
        use_dora=config.tuning == "dora",
        modules_to_save=head,
        exclude_modules=exclude,
        task_type=task_type,
    )


def launch_notes(config: TrainConfig) -> list[str]:
    """What a launch says about the chosen tuning before it starts (soft prompts are not mergeable)."""
    notes = []
    if config.tuning in SOFT_PROMPT_TUNINGS:
        notes.append(
            f"tuning {config.tuning} learns {config.num_virtual_tokens} virtual tokens: an HF-only adapter "
            "(load it with peft); it cannot be merged into the weights, so export and chat --adapter refuse it"
        )
    if config.tuning == "prefix" and config.gradient_checkpointing:
        notes.append("prefix tuning trains without gradient checkpointing (its key/value prefix cannot be recomputed)")
    if get_method(config.method).encoder and not config.eval_split:
        notes.append(f"{config.method} reports its task metric on the eval split: set eval_split (e.g. 0.2) to see it")
    if config.tuning in ("dora", "ia3"):
        notes.append(
            f"tuning {config.tuning} merges into the weights on export; chat --adapter needs a plain LoRA, so export it"
        )
    return notes


def trainer_arguments(config: TrainConfig, run_dir: Path, device: Device, has_eval: bool) -> dict:
    """Keyword arguments shared by SFTConfig, DPOConfig and ORPOConfig."""
    eval_steps = config.eval_steps or config.save_steps
    return dict(
        output_dir=str(Path(run_dir) / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of total steps
        weight_decay=config.weight_decay,
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_steps if has_eval else None,
        seed=config.seed,
        data_seed=config.seed,
        gradient_checkpointing=checkpointing(config),
        gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing(config) else None,
        bf16=(device.dtype_name == "bfloat16" and device.kind == "cuda") or device.autocast_bf16,
        fp16=device.dtype_name == "float16",
        use_cpu=device.kind == "cpu",
        optim="paged_adamw_8bit" if config.tuning == "qlora" else "adamw_torch",
        report_to=["tensorboard"],
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        ddp_backend="gloo" if device.kind == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        ddp_find_unused_parameters=False,
        max_length=config.max_length,
    )


def beta(config: TrainConfig) -> dict:
    """`beta` for the trl config when set; otherwise each trainer keeps its own default."""
    return {"beta": config.beta} if config.beta is not None else {}


def checkpointing(config: TrainConfig) -> bool:
    """Gradient checkpointing as asked, except for prefix tuning: recomputing a layer's forward would append its
    learned key/value prefix to the cache a second time (a shape error)."""
    return config.gradient_checkpointing and config.tuning != "prefix"


def mixed_in(mixin: type, trainer_class: TrainerClass, prefix: str) -> TrainerClass:
    """`trainer_class` with `mixin`'s methods in front of its own, named `{prefix}{its name}`."""
    return cast(TrainerClass, type(f"{prefix}{trainer_class.__name__}", (mixin, trainer_class), {}))


class FlooredWarmup(TrainerBase):
    """Warmup rounded down when the ratio gives less than one step.

    transformers rounds `warmup_ratio x steps` up, so 0.03 of 12 steps became one warmup step and step 1
    trained at learning rate 0. Whole warmup steps (>= 1) keep transformers' schedule.
    """

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        ratio = self.args.warmup_steps
        if 0 < ratio < 1 and num_training_steps * ratio < 1:
            self.args.warmup_steps = 0
        return super().create_scheduler(num_training_steps, optimizer)


def floor_warmup(trainer_class: TrainerClass) -> TrainerClass:
    """`trainer_class` with the warmup floor (FlooredWarmup)."""
    return mixed_in(FlooredWarmup, trainer_class, "Floored")
