"""`llmdeck merge`: fine-tunes of one base combined into a new model with mergekit (linear, slerp, ties, dare_ties),
or LoRA adapters of one base combined into one adapter with peft's `add_weighted_adapter`.

The result is recorded as a completed run (method `merge`) whose `adapter/` holds the merged model (or adapter), so
`llmdeck export`, `chat --adapter` and `runs show` work on it as on any run; its config and `merge.json` record
the lineage (every source with its run id, base and weight; the method and its parameters).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.core.atomic import atomic_write_text
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.store import check_name
from llmdeck.tuning.config import SOFT_PROMPT_TUNINGS
from llmdeck.tuning.methods import find_method, names_where

MERGE_METHODS = ("linear", "slerp", "ties", "dare_ties")
NEEDS_BASE = ("ties", "dare_ties")  # task-vector methods: differences from the shared base are merged
PEFT_COMBINATIONS = {"linear": "cat", "ties": "ties", "dare_ties": "dare_ties"}  # cat: exactly sum(w_i * B_i A_i)
MERGEABLE_RUN_METHODS = (*names_where(lambda method: method.head is None), "merge")  # causal LMs
LINEAGE_FILE = "merge.json"


@dataclass
class MergeSource:
    """One model of the merge: as given, and what it resolved to."""

    reference: str
    weight: float
    kind: str  # "run" | "hf_dir"
    path: str  # the HF directory, or the run's adapter directory
    run_id: str | None = None
    base_model: str | None = None  # the run's base (store name or directory)
    tuning: str | None = None


@dataclass
class MergeReport:
    run_id: str
    name: str
    method: str
    library: str
    sources: list[MergeSource]
    base: str | None
    output: str
    seconds: float
    parameters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


MergeProgress = Callable[[str], None]


def plan_merge(
    method: str,
    references: list[str],
    weights: list[float] | None,
    name: str,
    base: str | None = None,
    as_adapter: bool = False,
    export_quants: str | None = None,
) -> tuple[list[MergeSource], str | None]:
    """Everything checked before any weight is read: (sources, base for task-vector methods)."""
    if method not in MERGE_METHODS:
        raise BadInput(f"--method {method!r}: expected one of {', '.join(MERGE_METHODS)}")
    if len(references) < 2:
        raise BadInput("--models: a merge needs at least two models")
    if method == "slerp" and len(references) != 2:
        raise BadInput(f"--models: slerp interpolates exactly two models, got {len(references)}")
    weights = list(weights) if weights else [1.0 / len(references)] * len(references)
    if len(weights) != len(references):
        raise BadInput(f"--weights: {len(weights)} weights for {len(references)} models; expected one per model")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise BadInput(f"--weights {','.join(map(str, weights))}: expected non-negative numbers, not all zero")
    check_name(name)
    _check_run_name_free(name)
    if export_quants is not None:
        check_export(name, export_quants)
    sources = [_source(reference, weight) for reference, weight in zip(references, weights)]
    run_bases = {s.base_model for s in sources if s.kind == "run" and s.base_model is not None}
    if len(run_bases) > 1:
        raise BadInput(
            f"--models: the runs were trained on different bases ({', '.join(sorted(run_bases))}); "
            "merging needs fine-tunes of one base"
        )
    if as_adapter:
        _check_adapters(method, sources)
        return sources, run_bases.pop()
    if method in NEEDS_BASE:
        if base is None and run_bases and all(s.kind == "run" for s in sources):
            base = run_bases.pop()
        if base is None:
            raise BadInput(
                f"--base: {method} merges each model's difference from their shared base; name the base "
                "(a store name or HF directory) with --base"
            )
    return sources, base


def check_export(name: str, quants: str) -> list[str]:
    """`--export` checked before the merge, so a bad quant or a taken store name leaves no merge run behind."""
    from llmdeck.core.quantize import parse_quant_types
    from llmdeck.core.store import ModelStore
    from llmdeck.tuning.converter import find_converter

    try:
        quant_types = parse_quant_types(quants)
    except BadInput as exc:
        raise BadInput(str(exc).replace("--quant", "--export", 1)) from None
    store = ModelStore()
    taken = [f"{name}.{quant}" for quant in quant_types if store.exists(check_name(f"{name}.{quant}"))]
    if taken:
        raise BadInput(f"--export: model name(s) {', '.join(taken)} already in the store (choose another --out)")
    find_converter()
    return quant_types


def _check_run_name_free(name: str) -> None:
    from llmdeck.tuning.registry import Registry

    if any(run.name == name or run.id == name for run in Registry().list()):
        raise BadInput(f"--out {name!r}: a run with that name exists (choose another name, or `llmdeck runs rm` it)")


def _source(reference: str, weight: float) -> MergeSource:
    path = Path(reference).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise BadInput(f"--models: {path} is not a Hugging Face model directory (no config.json)")
        return MergeSource(reference, weight, "hf_dir", str(path.resolve()))
    from llmdeck.tuning.heads import finished_task_run

    run = finished_task_run(reference, MERGEABLE_RUN_METHODS)
    tuning = run.config.get("tuning", "lora")
    if tuning in SOFT_PROMPT_TUNINGS:
        raise BadInput(
            f"--models: run {run.id} is a {tuning}-tuning run: an HF-only adapter (soft prompts) cannot be "
            "merged into weights"
        )
    method = find_method(run.method)  # None for a merge run
    if method and method.head:
        raise BadInput(f"--models: run {run.id} is a {run.method} run; merge combines causal language models")
    return MergeSource(
        reference, weight, "run", str(run.path / "adapter"), run.id, run.config.get("base_model"), tuning
    )


def _check_adapters(method: str, sources: list[MergeSource]) -> None:
    if method not in PEFT_COMBINATIONS:
        raise BadInput(
            f"--as-adapter: peft combines adapters by {', '.join(PEFT_COMBINATIONS)}; {method} merges whole "
            "models (drop --as-adapter)"
        )
    for source in sources:
        if source.kind != "run" or source.tuning != "lora":
            raise BadInput(
                f"--as-adapter: {source.reference} is not a LoRA run; peft's add_weighted_adapter combines "
                "LoRA adapters of one base"
            )


def merge(
    method: str,
    references: list[str],
    name: str,
    weights: list[float] | None = None,
    base: str | None = None,
    density: float = 0.5,
    as_adapter: bool = False,
    on_progress: MergeProgress | None = None,
    export_quants: str | None = None,
) -> MergeReport:
    """Merge and record the result as a completed run named `name`; see the module doc. `export_quants` is only
    checked here (the caller exports the finished run)."""
    say = on_progress or (lambda message: None)
    if not 0 < density <= 1:
        raise BadInput(f"--density {density}: expected a share of parameters kept, in (0, 1]")
    sources, base = plan_merge(method, references, weights, name, base, as_adapter, export_quants)
    from llmdeck.tuning.registry import Registry

    registry = Registry()
    started = time.time()
    lineage = {
        "method": method,
        "sources": [asdict(s) for s in sources],
        "base": base,
        "density": density if method in NEEDS_BASE else None,
        "as_adapter": as_adapter,
    }
    base_model = base or sources[0].base_model or sources[0].path
    config = {
        "name": name,
        "method": "merge",
        "tuning": "lora" if as_adapter else "full",
        "base_model": base_model,
        "dataset": None,
        "merge": lineage,
    }
    run = registry.create(name, "merge", base_model, "-", config, "local", device="cpu", precision="fp32")
    registry.update(run.id, status="running", phase="merging", started_at=started, pid=os.getpid())
    try:
        library = _merge_into(run.path / "adapter", method, sources, base, density, as_adapter, run.path, say)
        lineage["library"] = library
        atomic_write_text(run.path / LINEAGE_FILE, json.dumps(lineage, indent=1))
        atomic_write_text(run.path / "config.yaml", _yaml(config))
    except BaseException as exc:
        shutil.rmtree(run.path, ignore_errors=True)
        registry.delete(run.id)
        if isinstance(exc, LlmdeckError):
            raise
        if isinstance(exc, Exception):
            raise LlmdeckError(
                f"merge failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        raise
    registry.update(run.id, status="completed", phase=None, finished_at=time.time(), pid=None)
    return MergeReport(
        run.id,
        name,
        method,
        library,
        sources,
        base,
        str(run.path / "adapter"),
        round(time.time() - started, 2),
        {"density": lineage["density"]},
    )


def _yaml(config: dict) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False)


def _merge_into(
    target: Path,
    method: str,
    sources: list[MergeSource],
    base: str | None,
    density: float,
    as_adapter: bool,
    run_dir: Path,
    say: MergeProgress,
) -> str:
    """Write the merged model (or adapter) to `target` through a staging directory; returns the library used."""
    scratch = Path(tempfile.mkdtemp(prefix=".merge-", dir=run_dir))
    staging = scratch / "out"
    try:
        if as_adapter:
            say(f"combining {len(sources)} LoRA adapters (peft add_weighted_adapter, {PEFT_COMBINATIONS[method]})")
            library = _combine_adapters(staging, method, sources, density)
        else:
            paths = [_as_hf_dir(source, scratch / f"model-{i}", say) for i, source in enumerate(sources)]
            base_dir = None
            if method in NEEDS_BASE:
                assert base is not None  # plan_merge asks for --base for these methods
                base_dir = _base_hf_dir(base, scratch / "base", say)
            say(f"merging {len(paths)} models ({method}, mergekit)")
            library = _mergekit(staging, method, paths, [s.weight for s in sources], base_dir, density)
            _copy_chat_template(paths[0], staging)
        os.replace(staging, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return library


def _as_hf_dir(source: MergeSource, scratch: Path, say: MergeProgress) -> Path:
    """A whole model directory for the source: an HF dir as is, a full run's output, or a run's adapter merged."""
    if source.kind == "hf_dir" or source.tuning == "full":
        return Path(source.path)
    from llmdeck.tuning.merge import finished_run, merge_to_hf_dir

    assert source.run_id is not None  # every source that is not an HF directory is a run
    say(f"merging run {source.run_id}'s adapter into its base")
    return merge_to_hf_dir(finished_run(source.run_id), scratch)


def _base_hf_dir(base: str, scratch: Path, say: MergeProgress) -> Path:
    """The shared base as an HF directory (a store GGUF is dequantized, as training loaded it)."""
    from llmdeck.tuning.models import resolve_base

    source = resolve_base(base)
    if source.kind == "hf_dir":
        return Path(source.location)
    if source.kind != "gguf":
        raise BadInput(f"--base {base}: expected a store model, a .gguf file or an HF directory")
    import torch

    from llmdeck.tuning.merge import quiet_libraries
    from llmdeck.tuning.models import load_base_model, load_tokenizer

    quiet_libraries()
    say(f"writing the base {source.display} as an HF directory")
    model = load_base_model(source, torch.float32)
    scratch.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(scratch)
    load_tokenizer(source).save_pretrained(scratch)
    return scratch


def _mergekit(
    target: Path, method: str, paths: list[Path], weights: list[float], base: Path | None, density: float
) -> str:
    from importlib.metadata import version

    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    if method == "slerp":  # interpolate from the first model towards the second by t = w2 / (w1 + w2)
        t = weights[1] / (weights[0] + weights[1])
        document = {
            "merge_method": "slerp",
            "base_model": str(paths[0]),
            "parameters": {"t": t},
            "dtype": "float32",
            "models": [{"model": str(paths[0])}, {"model": str(paths[1])}],
        }
    else:
        parameters = [{"weight": w, **({"density": density} if method in NEEDS_BASE else {})} for w in weights]
        document = {
            "merge_method": method,
            "dtype": "float32",
            "models": [{"model": str(p), "parameters": q} for p, q in zip(paths, parameters)],
        }
        if base is not None:
            document["base_model"] = str(base)
    try:
        configuration = MergeConfiguration.model_validate(document)
        run_merge(
            configuration,
            str(target),
            MergeOptions(copy_tokenizer=True, quiet=True, random_seed=0, write_model_card=True),
        )
    except Exception as exc:
        raise LlmdeckError(
            f"mergekit could not merge the models ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    (target / "mergekit_config.yml").write_text(_yaml(document), encoding="utf-8")
    return f"mergekit {version('mergekit')}"


def _copy_chat_template(source: Path, target: Path) -> None:
    """The fine-tunes' tokenizer (chat template and stop token included) rather than a bare base tokenizer."""
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)


def _combine_adapters(target: Path, method: str, sources: list[MergeSource], density: float) -> str:
    from importlib.metadata import version

    import torch
    from peft import PeftModel

    from llmdeck.tuning.merge import finished_run, quiet_libraries
    from llmdeck.tuning.models import load_base_model

    quiet_libraries()
    assert sources[0].run_id is not None  # plan_merge admits only LoRA runs with --as-adapter
    first = finished_run(sources[0].run_id)
    model = load_base_model(first.base, torch.float32)
    names = [f"a{i}" for i in range(len(sources))]
    model = PeftModel.from_pretrained(model, sources[0].path, adapter_name=names[0])
    for adapter_name, source in zip(names[1:], sources[1:]):
        model.load_adapter(source.path, adapter_name=adapter_name)
    kwargs = {"density": density} if method in NEEDS_BASE else {}
    try:
        model.add_weighted_adapter(
            names, [s.weight for s in sources], "merged", combination_type=PEFT_COMBINATIONS[method], **kwargs
        )
    except Exception as exc:
        raise LlmdeckError(f"peft could not combine the adapters ({type(exc).__name__}: {exc})") from None
    for adapter_name in names:
        model.delete_adapter(adapter_name)
    model.set_adapter("merged")
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target.parent / "peft"), selected_adapters=["merged"])
    os.replace(target.parent / "peft" / "merged", target)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (Path(sources[0].path) / name).exists():
            shutil.copyfile(Path(sources[0].path) / name, target / name)
    return f"peft {version('peft')} add_weighted_adapter ({PEFT_COMBINATIONS[method]})"
