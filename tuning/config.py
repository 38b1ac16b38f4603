"""The one typed config of a training run: drives CLI flags, the YAML file and the TUI form.

Validation reports every problem at once, naming each field and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from llmdeck.core.errors import BadInput, validation_message
from llmdeck.core.validate import (
    MAX_COUNT,
    MAX_CTX,
    MAX_STEPS,
    MAX_THREADS,
    MAX_TOKENS,
    DocumentProblem,
    parse_yaml,
    problem_line,
)
from llmdeck.tuning.data.formats import FORMATS
from llmdeck.tuning.methods import METHOD_NAMES, get_method, names_where, spoken_list
from llmdeck.tuning.methods import described as described_methods

if TYPE_CHECKING:
    Method = str
    DataFormat = str
else:  # the registries' names, in their order (choices, JSON schema and messages list them so)
    Method = Literal[METHOD_NAMES]
    DataFormat = Literal[("auto", *FORMATS)]
Tuning = Literal["lora", "qlora", "lora-8bit", "dora", "ia3", "prompt", "prefix", "ptuning", "full"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"]
Launcher = Literal["local", "accelerate"]
MAX_CONFIG_BYTES = 1 * 2**20

SOFT_PROMPT_TUNINGS = ("prompt", "prefix", "ptuning")  # virtual tokens: an HF-only adapter, never merged into weights
REWARD_FIELDS = ("reward_model", "reward_fn", "reward_exact", "reward_regex", "reward_length", "reward_json")


class TrainConfig(BaseModel):
    """Everything a run needs; the run directory keeps the resolved copy as config.yaml."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    # what to train
    name: str | None = Field(None, description="Human name of the run (default: METHOD-BASE-DATE).")
    method: Method = Field("sft", description=described_methods())
    base_model: str | None = Field(
        None,
        description="Store name, .gguf path, local HF model directory or hub id (online only);"
        " None: default store model.",
    )
    dataset: str | None = Field(
        None,
        description="A .json/.jsonl/.csv/.parquet/.txt file, a directory of them, or a hub dataset (online);"
        " None: bundled sample.",
    )
    dataset_format: DataFormat = Field(
        "auto",
        description="alpaca, sharegpt, messages, text, preference, prompt (RL), tokens (token-cls) or qa;"
        " auto detects it.",
    )
    skip_bad: bool = Field(False, description="Skip bad rows (counted and reported) instead of refusing to launch.")
    eval_split: float = Field(0.0, ge=0.0, lt=0.5, description="Fraction of rows held out for evaluation (0: none).")
    max_samples: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="Use at most this many rows (after skipping bad ones)."
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="Values for {{name}} placeholders in the data (--var name=value, repeatable)."
    )
    chat_template: str | None = Field(
        None,
        description="Chat template for a base without one: chatml, llama3, gemma or a Jinja FILE"
        " (sets the stop token too).",
    )
    allow_truncation: bool = Field(
        False, description="Launch even when more than 5% of rows exceed max_length (their ends are cut)."
    )

    # how to adapt the weights
    tuning: Tuning = Field(
        "lora",
        description="lora, qlora (4-bit NF4 base, GPU only), lora-8bit (GPU only), dora, ia3, prompt, prefix, "
        "ptuning (soft prompts: HF-only adapters) or full.",
    )
    lora_r: int = Field(16, ge=1, le=4096, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, le=65536, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA path (0 skips the extra copy of each input)."
    )
    lora_target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", min_length=1, description="Module names to adapt (e.g. [q_proj, v_proj]) or all-linear."
    )
    num_virtual_tokens: int = Field(
        20, ge=1, le=512, description="Virtual tokens learned by prompt, prefix and ptuning tuning."
    )
    precision: Precision = Field(
        "auto",
        description="auto: bf16 on a capable GPU; on a CPU with native bf16, a bf16 frozen base under fp32 LoRA;"
        " else fp32.",
    )

    # data shaping
    max_length: int = Field(
        512, ge=16, le=MAX_CTX, description="Maximum tokens per sequence (packed block size when packing)."
    )
    packing: bool | None = Field(
        None,
        description="Pack examples into max_length blocks, padding-free (trl bfd); None: on with a GPU, off on CPU.",
    )
    group_by_length: bool = Field(
        True, description="Batch examples of similar length together (less padding) when not packing."
    )
    assistant_only_loss: bool = Field(
        True, description="Loss on the assistant reply only (False: on the whole conversation)."
    )

    # optimisation
    learning_rate: float = Field(2e-4, gt=0.0, le=1.0, description="Peak learning rate.")
    lr_scheduler: Scheduler = Field("cosine", description="Learning rate schedule after warmup.")
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0.0, le=10.0, description="AdamW weight decay.")
    num_epochs: float = Field(1.0, gt=0.0, le=10_000, description="Passes over the data (ignored when max_steps > 0).")
    max_steps: int = Field(
        -1, ge=-1, le=MAX_STEPS, description="Stop after this many optimizer steps (-1: use num_epochs; 0 is refused)."
    )
    batch_size: int = Field(4, ge=1, le=65536, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(
        1, ge=1, le=65536, description="Micro-batches accumulated per optimizer step."
    )
    gradient_checkpointing: bool = Field(
        True, description="Recompute activations in backward: less memory, ~20% slower."
    )
    beta: float | None = Field(
        None,
        ge=0.0,
        le=1000.0,
        description="DPO/KTO temperature, ORPO odds-ratio weight, GRPO/RLOO KL weight; None: trl's default "
        "for the method (0.1 for dpo/orpo/kto, 0 for grpo: no reference model, 0.05 for rloo).",
    )
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed for data order and initialisation.")

    # online RL (grpo, rloo): where rewards come from (several add up) and how completions are sampled
    reward_model: str | None = Field(
        None,
        description="A finished reward run (id or name) or an HF sequence-classification directory"
        " scoring each completion.",
    )
    reward_fn: str | None = Field(
        None,
        description="FILE.py:FUNCTION, your reward: fn(prompts, completions, **columns) -> one float per completion.",
    )
    reward_exact: bool = Field(
        False, description="Reward 1 when the completion equals the row's `answer` (trimmed, case-insensitive)."
    )
    reward_regex: str | None = Field(None, description="Reward 1 when this regular expression matches the completion.")
    reward_length: str | None = Field(
        None, description="MIN-MAX: reward 1 when the completion has MIN to MAX characters."
    )
    reward_json: bool = Field(False, description="Reward 1 when the completion is valid JSON.")
    num_generations: int = Field(
        4, ge=2, le=1024, description="Completions sampled per prompt (grpo/rloo); batch_size must be a multiple."
    )
    max_completion_length: int = Field(
        64, ge=1, le=MAX_TOKENS, description="Most tokens generated per completion (grpo/rloo)."
    )
    temperature: float = Field(1.0, gt=0.0, le=10.0, description="Sampling temperature of the completions (grpo/rloo).")

    # encoder heads
    mlm_probability: float = Field(0.15, gt=0.0, lt=1.0, description="Share of tokens masked for mlm.")
    doc_stride: int = Field(
        64, ge=8, le=MAX_CTX, description="Overlap in tokens between the windows of a long QA context (extractive-qa)."
    )

    # bookkeeping
    logging_steps: int = Field(1, ge=1, le=MAX_STEPS, description="Write a metrics row every N steps.")
    eval_steps: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Evaluate every N steps (needs eval_split > 0; default: at save_steps)."
    )
    save_steps: int = Field(50, ge=1, le=MAX_STEPS, description="Save a resumable checkpoint every N steps.")
    save_total_limit: int | None = Field(
        3, ge=1, le=10_000, description="Keep at most this many checkpoints (None: all)."
    )
    threads: int | None = Field(
        None, ge=1, le=MAX_THREADS, description="CPU threads for torch (default: all cores / processes)."
    )

    # where it runs
    launcher: Launcher = Field("local", description="local (one process) or accelerate (accelerate launch).")
    parallel: bool = Field(
        False,
        description="Start at once even while another run trains on this device (default: wait in the run queue).",
    )
    num_processes: int = Field(
        1, ge=1, le=1024, description="Processes for accelerate launch (GPUs, or CPU workers with gloo)."
    )
    accelerate_config: str | None = Field(
        None, description="accelerate config file (DDP/FSDP/DeepSpeed, multi-node); None: plain multi-process."
    )

    @field_validator("reward_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @field_validator("reward_fn")
    @classmethod
    def _function_reference(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r".+\.py:[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r}: expected FILE.py:FUNCTION (a Python file and the function in it)")
        return value

    @field_validator("reward_length")
    @classmethod
    def _ordered(cls, value: str | None) -> str | None:
        if value is not None:
            if not re.fullmatch(r"\d+-\d+", value):
                raise ValueError(f"{value!r}: expected MIN-MAX characters, e.g. 20-200")
            low, high = (int(part) for part in value.split("-"))
            if low > high:
                raise ValueError(f"MIN {low} is above MAX {high}; expected MIN-MAX")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
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
    spec = get_method(method) if method in METHOD_NAMES else None
    problems = []
    if get("max_steps") == 0:
        problems.append("max_steps: 0 trains nothing; expected a positive number of steps, or -1 to train num_epochs")
    if fmt != "auto" and spec and fmt not in spec.formats:
        problems.append(f"dataset_format: method {method} needs {' or '.join(spec.formats)} data, not {fmt}")
    if get("eval_steps") is not None and not get("eval_split"):
        problems.append("eval_steps: set eval_split > 0 to evaluate")
    if get("launcher") == "local" and (get("num_processes") or 1) > 1:
        problems.append("num_processes: more than 1 needs launcher accelerate")
    if spec is None:
        return problems
    problems += spec.tuning_problems(get)
    if tuning in SOFT_PROMPT_TUNINGS and not spec.soft_prompts:
        problems.append(
            f"tuning: {tuning} tuning (soft prompts) trains with method "
            f"{' or '.join(names_where(lambda m: m.soft_prompts))}; use lora, dora or ia3 for {method}"
        )
    if spec.tunings and tuning not in spec.tunings:
        problems.append(f"tuning: {method} trains with {spoken_list(spec.tunings)}, not {tuning}")
    given = [name for name in REWARD_FIELDS if get(name) not in (None, False, "")]
    if given and not spec.online:
        problems.append(
            f"{given[0]}: rewards are for method {' or '.join(names_where(lambda m: m.online))}, not {method}"
        )
    return problems + spec.config_problems(get)


def build_config(values: dict[str, Any], source: str = "config") -> TrainConfig:
    values = {str(key): value for key, value in values.items()}  # YAML allows `1: x`; report it as a field
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        message = validation_message(source, exc, TrainConfig)
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
        raw = parse_yaml(text)
    except DocumentProblem as exc:
        raise BadInput(problem_line(path, exc, fields=TrainConfig)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BadInput(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping of config fields, found {type(raw).__name__}")
    return raw


PATH_FIELDS = ("dataset", "base_model", "accelerate_config", "chat_template", "reward_model", "reward_fn")


def _beside_config(values: dict[str, Any], config_file: Path) -> dict[str, Any]:
    """Relative paths in a config file that exist beside the file but not in the working directory point there."""
    for field in PATH_FIELDS:
        value = values.get(field)
        if not isinstance(value, str) or not value:
            continue
        path, function = value.rsplit(":", 1) if field == "reward_fn" and ":" in value else (value, None)
        if not Path(path).expanduser().is_absolute():
            beside = Path(config_file).parent / path
            if not Path(path).exists() and beside.exists():
                values[field] = str(beside.resolve()) + (f":{function}" if function else "")
    return values


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A config file (optional) with overrides on top (CLI flags, TUI form), validated once."""
    values = _beside_config(read_config_file(path), path) if path else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return build_config(values, source=str(path) if path else "config")
