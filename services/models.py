"""The model store joined with the run registry, for the app's models screen (and any front end): each
model with the loss its training run recorded, its details, and its lineage (base -> run -> quants)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.core.gguf_meta import read_gguf_info
from llmdeck.core.store import ModelEntry, ModelStore


@dataclass
class ModelRow:
    entry: ModelEntry
    run_name: str | None = None
    loss: float | None = None  # the last training loss its run recorded
    eval_loss: float | None = None


@dataclass
class LineageNode:
    kind: str  # base | run | model
    name: str  # a store name, a run id, or a base that is not in the store (an HF directory, a hub id)
    label: str
    children: list[LineageNode] = field(default_factory=list)


@dataclass
class ModelDetails:
    row: ModelRow
    model_name: str | None  # general.name in the GGUF metadata
    chat_template: str | None
    lineage: LineageNode
    problem: str | None = None  # the file is gone or damaged: shown, not raised


def _runs_by_id() -> dict:
    from llmdeck.tuning.registry import Registry

    return {run.id: run for run in Registry().list()}


def model_rows() -> list[ModelRow]:
    runs = _runs_by_id()
    rows = []
    for entry in ModelStore().list():
        run = runs.get(entry.run_id) if entry.run_id else None
        metrics = (run.last_metrics or {}) if run else {}
        rows.append(ModelRow(entry, run.name if run else None, metrics.get("loss"), metrics.get("eval_loss")))
    return rows


def model_details(name: str) -> ModelDetails:
    store = ModelStore()
    entry = store.get(name)
    row = next(r for r in model_rows() if r.entry.name == entry.name)
    try:
        info = read_gguf_info(Path(entry.path))
        model_name, template, problem = info.model_name, info.chat_template, None
    except Exception as exc:  # a moved or damaged file: the details say so
        model_name, template, problem = None, None, str(exc)
    return ModelDetails(row, model_name, template, lineage(entry.name, store), problem)


def lineage(name: str, store: ModelStore | None = None) -> LineageNode:
    """The family tree `name` belongs to, from its root base: base -> runs trained on it -> models exported
    from each run -> quantizations of each model."""
    store = store or ModelStore()
    entries = {e.name: e for e in store.list()}
    runs = _runs_by_id()
    root = _root_of(entries[name], entries, runs)
    return _subtree(root, entries, runs)


def _root_of(entry: ModelEntry, entries: dict, runs: dict) -> tuple[str, str]:
    seen = set()
    while entry.name not in seen:
        seen.add(entry.name)
        if entry.quant_source and entry.quant_source in entries:
            entry = entries[entry.quant_source]
            continue
        base = entry.base_model or (runs[entry.run_id].base_model if entry.run_id in runs else None)
        if base and base in entries:
            entry = entries[base]
            continue
        if base:
            return "base", base
        return "model", entry.name
    return "model", entry.name


def _subtree(node: tuple[str, str], entries: dict, runs: dict) -> LineageNode:
    kind, name = node
    if kind == "run":
        run = runs[name]
        made = [e for e in entries.values() if e.run_id == name and not e.quant_source]
        return LineageNode(
            "run", name, f"run {run.name} ({run.status})", [_subtree(("model", e.name), entries, runs) for e in made]
        )
    children = []
    if kind in ("model", "base"):
        trained = [r for r in runs.values() if r.base_model == name]
        children += [_subtree(("run", r.id), entries, runs) for r in trained]
        direct = [e for e in entries.values() if e.base_model == name and not e.run_id and not e.quant_source]
        children += [_subtree(("model", e.name), entries, runs) for e in direct]
    if kind == "model":
        quants = [e for e in entries.values() if e.quant_source == name]
        children += [_subtree(("model", e.name), entries, runs) for e in quants]
        entry = entries[name]
        label = f"{name} ({entry.file_type})"
    else:
        label = f"{name} (base, not in the store)"
    return LineageNode(kind if kind != "base" else "base", name, label, children)
