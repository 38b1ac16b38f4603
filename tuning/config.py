"""The one typed config of a training run: drives CLI flags, the YAML file and the TUI form.

Validation reports every problem at once, naming each field and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from llmdeck.core.errors import BadInput, validation_message

Method = Literal["sft", "dpo", "orpo"]
Tuning = Literal["lora", "qlora", "lora-8bit", "full"]
DataFormat = Literal["auto", "alpaca", "sharegpt", "messages", "text", "preference"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"]
Launcher = Literal["local", "accelerate"]
MAX_CONFIG_BYTES = 1 * 2**20


class TrainConfig(BaseModel):
    """Everything a run needs; the run directory keeps the resolved copy as config.yaml."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    # what to train
    name: str | None = Field(None, description="Human name of the run (default: METHOD-BASE-DATE).")
    method: Method = Field("sft", description="Training method: sft, dpo or orpo (dpo/orpo need preference data).")
    base_model: str | None = Field(
        None, description="Store name, .gguf path, local HF model directory or hub id (online only); None: default store model."
    )
    dataset: str | None = Field(
        None, description="A .json/.jsonl/.csv/.parquet/.txt file, a directory of them, or a hub dataset (online); None: bundled sample."
    )
    dataset_format: DataFormat = Field("auto", description="alpaca, sharegpt, messages, text or preference; auto detects it.")
    skip_bad: bool = Field(False, description="Skip bad rows (counted and reported) instead of refusing to launch.")
    eval_split: float = Field(0.0, ge=0.0, lt=0.5, description="Fraction of rows held out for evaluation (0: none).")
    max_samples: int | None = Field(None, ge=1, description="Use at most this many rows (after skipping bad ones).")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Values for {{name}} placeholders in the data (--var name=value, repeatable)."
    )
    chat_template: str | None = Field(
        None, description="Chat template for a base without one: chatml, llama3, gemma or a Jinja FILE (sets the stop token too)."
    )
    allow_truncation: bool = Field(
        False, description="Launch even when more than 5% of rows exceed max_length (their ends are cut)."
    )

    # how to adapt the weights
    tuning: Tuning = Field("lora", description="lora, qlora (4-bit NF4 base, GPU only), lora-8bit (GPU only) or full.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA path (0 skips the extra copy of each input).")
    lora_target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", min_length=1, description="Module names to adapt (e.g. [q_proj, v_proj]) or all-linear."
    )
    precision: Precision = Field(
        "auto", description="auto: bf16 on a capable GPU; on a CPU with native bf16, a bf16 frozen base under fp32 LoRA; else fp32."
    )

    # data shaping
    max_length: int = Field(512, ge=16, description="Maximum tokens per sequence (packed block size when packing).")
    packing: bool | None = Field(
        None, description="Pack examples into max_length blocks, padding-free (trl bfd); None: on with a GPU, off on CPU."
    )
    group_by_length: bool = Field(True, description="Batch examples of similar length together (less padding) when not packing.")
    assistant_only_loss: bool = Field(True, description="Loss on the assistant reply only (False: on the whole conversation).")

    # optimisation
    learning_rate: float = Field(2e-4, gt=0.0, le=1.0, description="Peak learning rate.")
    lr_scheduler: Scheduler = Field("cosine", description="Learning rate schedule after warmup.")
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    num_epochs: float = Field(1.0, gt=0.0, le=10_000, description="Passes over the data (ignored when max_steps > 0).")
    max_steps: int = Field(-1, ge=-1, description="Stop after this many optimizer steps (-1: use num_epochs; 0 is refused).")
    batch_size: int = Field(4, ge=1, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches accumulated per optimizer step.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in backward: less memory, ~20% slower.")
    beta: float = Field(0.1, gt=0.0, description="DPO temperature / ORPO odds-ratio weight.")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed for data order and initialisation.")

    # bookkeeping
    logging_steps: int = Field(1, ge=1, description="Write a metrics row every N steps.")
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N steps (needs eval_split > 0; default: at save_steps).")
    save_steps: int = Field(50, ge=1, description="Save a resumable checkpoint every N steps.")
    save_total_limit: int | None = Field(3, ge=1, description="Keep at most this many checkpoints (None: all).")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: all cores / processes).")

    # where it runs
    launcher: Launcher = Field("local", description="local (one process) or accelerate (accelerate launch).")
    parallel: bool = Field(
        False, description="Start at once even while another run trains on this device (default: wait in the run queue)."
    )
    num_processes: int = Field(1, ge=1, description="Processes for accelerate launch (GPUs, or CPU workers with gloo).")
    accelerate_config: str | None = Field(
        None, description="accelerate config file (DDP/FSDP/DeepSpeed, multi-node); None: plain multi-process."
    )

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        problems = consistency_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(), sort_keys=False)


def consistency_problems(values: dict[str, Any]) -> list[str]:
    """Problems between fields (each field valid on its own), as `field: what is expected`."""
    get = lambda name: values.get(name, TrainConfig.model_fields[name].default)  # noqa: E731
    method, fmt, tuning = get("method"), get("dataset_format"), get("tuning")
    problems = []
    if get("max_steps") == 0:
        problems.append("max_steps: 0 trains nothing; expected a positive number of steps, or -1 to train num_epochs")
    if fmt == "preference" and method == "sft":
        problems.append("dataset_format: preference data needs method dpo or orpo, not sft")
    if fmt in ("alpaca", "sharegpt", "messages", "text") and method in ("dpo", "orpo"):
        problems.append(f"dataset_format: method {method} needs preference data, not {fmt}")
    if get("eval_steps") is not None and not get("eval_split"):
        problems.append("eval_steps: set eval_split > 0 to evaluate")
    if get("launcher") == "local" and (get("num_processes") or 1) > 1:
        problems.append("num_processes: more than 1 needs launcher accelerate")
    if method == "orpo" and tuning in ("qlora", "lora-8bit"):
        problems.append("tuning: orpo runs with lora or full")
    return problems


def build_config(values: dict[str, Any], source: str = "config") -> TrainConfig:
    values = {str(key): value for key, value in values.items()}  # YAML allows `1: x`; report it as a field
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        message = validation_message(source, exc)
        if not any(item["type"] == "value_error" and not item["loc"] for item in exc.errors()):
            bad_fields = {str(item["loc"][0]) for item in exc.errors() if item["loc"]}
            valid = {k: v for k, v in values.items() if k not in bad_fields and k in TrainConfig.model_fields}
            extra = consistency_problems(valid)
            message += "".join(f"; {problem}" for problem in extra)
        raise BadInput(message) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """The raw mapping of a YAML (or JSON) config file."""
    import yaml

    from llmdeck.tuning.files import read_text_file

    path = Path(path)
    text = read_text_file(path, max_bytes=MAX_CONFIG_BYTES, what="config file")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BadInput(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except RecursionError:
        raise BadInput(f"{path}: not valid YAML (nested too deeply)") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping of config fields, found {type(raw).__name__}")
    return raw


PATH_FIELDS = ("dataset", "base_model", "accelerate_config", "chat_template")


def _beside_config(values: dict[str, Any], config_file: Path) -> dict[str, Any]:
    """Relative paths in a config file that exist beside the file but not in the working directory point there."""
    for field in PATH_FIELDS:
        value = values.get(field)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            beside = Path(config_file).parent / value
            if not Path(value).exists() and beside.exists():
                values[field] = str(beside.resolve())
    return values


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A config file (optional) with overrides on top (CLI flags, TUI form), validated once."""
    values = _beside_config(read_config_file(path), path) if path else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return build_config(values, source=str(path) if path else "config")
