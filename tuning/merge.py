"""A finished run as a whole model: its adapter merged into the base it was trained on (peft), as an HF directory.

The tokenizer comes from the run's adapter directory (the trainer saves it there, chat template included), so
a template given at launch is the one the exported model carries.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.tuning.models import ModelSource, load_config, resolve_base
from llmdeck.tuning.registry import Registry, Run

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")


@dataclass(frozen=True)
class FinishedRun:
    """A completed run, what it saved, and the base model it was trained on."""

    run: Run
    tuning: str  # lora | qlora | lora-8bit | full
    base: ModelSource
    adapter_dir: Path  # the LoRA adapter, or the whole model for a full fine-tune

    @property
    def is_full(self) -> bool:
        return self.tuning == "full"


def finished_run(run_ref: str) -> FinishedRun:
    """The run's saved output and its base, checked; BadInput saying what is missing or inconsistent."""
    run = Registry().get(run_ref)
    if run.status != "completed":
        raise BadInput(
            f"run {run.id} is {run.status}; only a completed run has a final adapter to export"
            + (" (resume it to finish)" if run.status in ("stopped", "failed") else "")
        )
    adapter_dir = run.path / "adapter"
    if not adapter_dir.is_dir():
        raise BadInput(f"run {run.id}: no adapter directory at {adapter_dir}")
    tuning = run.config.get("tuning", "lora")
    require_mergeable(run, tuning, adapter_dir)
    base = resolve_base(run.config.get("base_model"))
    if tuning != "full":
        _check_adapter_base(run, adapter_dir, base)
    return FinishedRun(run, tuning, base, adapter_dir)


def require_mergeable(run: Run, tuning: str, adapter_dir: Path) -> None:
    """Only causal LMs whose adapter peft can merge into the weights become whole models (and GGUF files)."""
    from llmdeck.tuning.config import SOFT_PROMPT_TUNINGS
    from llmdeck.tuning.methods import find_method

    if tuning in SOFT_PROMPT_TUNINGS:
        raise BadInput(
            f"run {run.id} is an HF-only adapter ({tuning} tuning: learned virtual tokens cannot be merged into "
            f"the weights or converted to GGUF); load it with peft: PeftModel.from_pretrained(base, '{adapter_dir}')"
        )
    method = find_method(run.method)
    if method and method.head:
        use = method.use_command
        raise BadInput(
            f"run {run.id} is a {run.method} model (a task head, not a chat model); GGUF export is for causal "
            f"language models - use it with `{use} {run.id}`"
        )


def _check_adapter_base(run: Run, adapter_dir: Path, base: ModelSource) -> None:
    config_file = adapter_dir / "adapter_config.json"
    try:
        adapter_config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LlmdeckError(f"run {run.id}: unreadable adapter config {config_file} ({exc})") from None
    trained_on = adapter_config.get("base_model_name_or_path")
    if trained_on and base.kind != "hub" and Path(trained_on).resolve() != Path(base.location).resolve():
        raise BadInput(
            f"run {run.id} was trained on {trained_on}, but its base {run.config.get('base_model') or '(default)'}"
            f" now resolves to {base.location}; re-register the original base under that name"
        )


def merge_to_hf_dir(finished: FinishedRun, target: Path) -> Path:
    """Merge the LoRA adapter into its base and save model + tokenizer as an HF directory at `target`
    (written beside it, then renamed). A full fine-tune is already a whole model: its directory is returned."""
    if finished.is_full:
        return finished.adapter_dir
    quiet_libraries()
    import torch
    from peft import PeftModel

    from llmdeck.tuning.models import load_base_model

    # a GGUF base is dequantized to fp32 (its exact values); an HF base keeps the dtype it was saved in
    dtype = torch.float32 if finished.base.kind == "gguf" else "auto"
    model = load_base_model(finished.base, dtype)
    try:
        model = PeftModel.from_pretrained(model, str(finished.adapter_dir)).merge_and_unload()
    except Exception as exc:  # peft and safetensors raise their own types for a damaged adapter
        raise LlmdeckError(
            f"could not load the adapter at {finished.adapter_dir} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    tokenizer = _run_tokenizer(finished)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def quiet_libraries() -> None:
    """No tqdm bars or advisory warnings from transformers/peft on the export's stderr (stages report progress)."""
    import logging
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF dequantization uses a bare tqdm
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")


def _run_tokenizer(finished: FinishedRun):
    """The tokenizer saved with the adapter (the one training used), else the base's."""
    from transformers import AutoTokenizer

    from llmdeck.tuning.models import load_tokenizer

    if any((finished.adapter_dir / name).exists() for name in TOKENIZER_FILES):
        try:
            return AutoTokenizer.from_pretrained(str(finished.adapter_dir))
        except Exception as exc:
            raise LlmdeckError(f"could not load the tokenizer saved with run {finished.run.id} ({exc})") from None
    return load_tokenizer(finished.base)


def base_config_dir(base: ModelSource, scratch: Path) -> Path:
    """An HF directory with the base's config.json (all llama.cpp's LoRA converter reads of the base)."""
    if base.kind == "hf_dir":
        return Path(base.location)
    try:
        config = load_config(base)
    except Exception as exc:
        raise LlmdeckError(f"{base.display}: could not read the model config ({type(exc).__name__}: {exc})") from None
    if not getattr(config, "architectures", None):  # a GGUF's config does not name the model class
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        config.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[config.model_type]]
    target = Path(scratch)
    target.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(target)
    return target
