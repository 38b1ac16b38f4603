"""Task heads (reward scores, token labels, answer spans, masked tokens): whether a base has the transformers head
a method trains (`METHOD.head` in tuning/methods), and a finished task run loaded back for scoring or prediction."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.tuning.config import SOFT_PROMPT_TUNINGS
from llmdeck.tuning.methods import find_method, get_method, methods_where
from llmdeck.tuning.models import ModelSource, load_config

TASK_FILE = "task.json"


@functools.lru_cache(maxsize=8)
def model_type(base: ModelSource) -> str:
    try:
        return load_config(base).model_type
    except Exception as exc:
        raise LlmdeckError(f"{base.display}: could not read the model config ({type(exc).__name__}: {exc})") from None


def check_base_has_head(base: ModelSource, method: str) -> None:
    """BadInput when transformers has no `method` head for this architecture (mlm on a decoder, say)."""
    spec = find_method(method)
    if spec is None or spec.head is None:
        return
    from transformers.models.auto import modeling_auto

    auto_class, mapping = spec.head
    kind = model_type(base)
    if kind not in getattr(modeling_auto, mapping):
        raise BadInput(
            f"base_model: {base.display} is a {kind} model, which has no {auto_class.removeprefix('AutoModelFor')} "
            f"head in transformers, so it cannot train {method}{spec.head_hint}"
        )


def finished_task_run(reference: str, methods: tuple[str, ...]):
    """A completed run of one of `methods`, checked (BadInput naming what is wrong)."""
    from llmdeck.tuning.registry import Registry

    run = Registry().get(reference)
    if run.method not in methods:
        raise BadInput(f"run {run.id} is a {run.method} run; expected a {' or '.join(methods)} run")
    if run.status != "completed" or not (run.path / "adapter").is_dir():
        raise BadInput(
            f"run {run.id} is {run.status}; only a completed run has a model to use"
            + (" (resume it to finish)" if run.status in ("stopped", "failed") else "")
        )
    return run


def task_info(adapter_dir: Path) -> dict:
    try:
        return json.loads((Path(adapter_dir) / TASK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def load_task_model(reference: str, dtype=None, methods: tuple[str, ...] = ("reward",)):
    """(model, tokenizer) of a finished task run (adapter merged into its head model where peft can merge it),
    or of an HF directory holding a whole model with its head."""
    import torch
    import transformers

    from llmdeck.tuning.merge import quiet_libraries
    from llmdeck.tuning.models import load_base_model, load_tokenizer, resolve_base

    quiet_libraries()
    dtype = dtype or torch.float32
    path = Path(reference)
    if path.is_dir():
        auto_class = head_class(methods[0])
        try:
            model = getattr(transformers, auto_class).from_pretrained(path, dtype=dtype)
            tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        except Exception as exc:
            raise LlmdeckError(f"{path}: could not load the model ({type(exc).__name__}: {exc})") from None
        return model, _with_pad(tokenizer, model)
    run = finished_task_run(reference, methods)
    adapter_dir = run.path / "adapter"
    info = task_info(adapter_dir)
    auto_class = head_class(run.method)
    head_kwargs = head_arguments(info)
    tuning = run.config.get("tuning", "lora")
    base = resolve_base(run.config.get("base_model"))
    tokenizer = _saved_tokenizer(adapter_dir) or load_tokenizer(base)
    if tuning == "full":
        model = getattr(transformers, auto_class).from_pretrained(adapter_dir, dtype=dtype)
        return model, _with_pad(tokenizer, model)
    from peft import PeftModel

    model = load_base_model(base, dtype, auto_class=auto_class, **head_kwargs)
    try:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    except Exception as exc:
        raise LlmdeckError(f"could not load the adapter of run {run.id} ({type(exc).__name__}: {exc})") from None
    if tuning not in SOFT_PROMPT_TUNINGS:
        model = model.merge_and_unload()
    return model, _with_pad(tokenizer, model)


def head_class(method: str) -> str:
    """The transformers auto class of `method`'s task head."""
    head = get_method(method).head
    assert head is not None, f"{method} trains no task head"
    return head[0]


def task_head_methods() -> tuple[str, ...]:
    """The methods whose runs are task heads (not causal LMs), the encoder heads first."""
    heads = sorted(methods_where(lambda spec: spec.head is not None), key=lambda spec: not spec.encoder)
    return tuple(spec.name for spec in heads)


def head_arguments(info: dict) -> dict:
    """from_pretrained arguments that size a task head as trained (labels of a token classifier)."""
    if info.get("labels"):
        labels = info["labels"]
        return {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    if info.get("num_labels"):
        return {"num_labels": info["num_labels"]}
    return {}


def _saved_tokenizer(adapter_dir: Path):
    from transformers import AutoTokenizer

    if not any((adapter_dir / name).exists() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        return None
    try:
        return AutoTokenizer.from_pretrained(str(adapter_dir))
    except Exception as exc:
        raise LlmdeckError(f"could not load the tokenizer saved in {adapter_dir} ({exc})") from None


def _with_pad(tokenizer, model):
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id
    return tokenizer
