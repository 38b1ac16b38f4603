"""`llmdeck export RUN`: a finished run into the model store as GGUF quants, with what each quant costs.

Stages: check -> merge (peft, skipped for a full fine-tune) -> convert (llama.cpp's convert_hf_to_gguf.py, f16)
-> eval f16 -> for each quant: quantize (llama.cpp) and eval -> register. Several quants share the merge and
the convert. Intermediates (the HF directory, the f16 GGUF) live in the run directory and are removed at the
end unless kept; quants are written to temp names in the store directory and renamed into place only when
they are registered, all in one transaction. A failure names its stage and leaves nothing behind.

The temporaries carry the export's pid and start time (`.export-PID-START-...`, see `core/procs.py`): a SIGTERM
removes them before the process exits, and what a `kill -9` leaves is reclaimed by the next command that opens
the store or the run registry. The converter and quantizer die with the export.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.core import db, paths
from llmdeck.core.diskspace import disk_full, where
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.perplexity import Score, score_gguf
from llmdeck.core.procs import cleanup_on_sigterm, owned_name
from llmdeck.core.quantize import parse_quant_types, quantize_file
from llmdeck.core.store import Lineage, ModelStore, check_name
from llmdeck.tuning import evaluate
from llmdeck.tuning.converter import convert_hf_to_gguf, find_converter
from llmdeck.tuning.merge import FinishedRun, finished_run, merge_to_hf_dir

DEFAULT_EVAL_EXAMPLES = 32


class ExportError(LlmdeckError):
    """A stage failed; the message names it and its cause."""

    def __init__(self, stage: str, cause: str, exit_code: int = 1):
        super().__init__(f"export failed at the {stage} stage: {cause}")
        self.stage = stage
        self.exit_code = exit_code


@dataclass
class QuantReport:
    """One quant of the export: where it went and what it lost against the f16 on the same data."""

    quant: str
    name: str
    size_bytes: int
    loss: float | None  # None when the export was not scored (--no-eval)
    perplexity: float | None
    loss_delta: float | None
    registered: bool = False
    path: str | None = None
    refused: str | None = None  # why --max-loss-delta kept it out of the store


@dataclass
class ExportReport:
    run_id: str
    base_model: str
    merged: bool
    eval_data: str | None
    f16_size_bytes: int = 0
    f16_loss: float | None = None
    f16_perplexity: float | None = None
    quants: list[QuantReport] = field(default_factory=list)
    intermediates: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    template_check: dict | None = None  # training vs llama.cpp vs Ollama tokens (tuning.template_check)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExportEvent:
    """Progress: a stage started (done is None), advanced (done/total) or finished (message says how)."""

    stage: str
    message: str
    done: int | None = None
    total: int | None = None


Progress = Callable[[ExportEvent], None]


@dataclass
class HfExportReport:
    """`export --format hf`: the merged model as an HF directory (safetensors, tokenizer, chat template)."""

    run_id: str
    base_model: str
    merged: bool
    directory: str
    files: list[str] = field(default_factory=list)
    size_bytes: int = 0
    chat_template: bool = False  # the tokenizer carries one (vLLM, TGI and SGLang need it for chat)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def default_name(run_name: str) -> str:
    """A store name from a run name ('sft-smollm2 1123' -> 'sft-smollm2-1123')."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", run_name).strip("-._").lower()
    return cleaned or "export"


class _Stages:
    """Times each stage and turns its failure into an ExportError naming it."""

    def __init__(self, report: ExportReport | HfExportReport, on_event: Progress):
        self.report, self.on_event, self.current = report, on_event, "check"

    def run(self, stage: str, message: str, work: Callable[[], object]):
        self.current = stage
        self.on_event(ExportEvent(stage, message))
        start = time.perf_counter()
        try:
            result = work()
        except ExportError:
            raise
        except LlmdeckError as exc:
            raise ExportError(stage, str(exc), exc.exit_code) from None
        except Exception as exc:
            full = disk_full(exc, where(exc, paths.models_dir()))  # the run directory's or the store's disk
            if full is not None:
                raise ExportError(stage, str(full)) from None
            if isinstance(exc, OSError):
                raise ExportError(stage, f"{exc.strerror or exc} ({exc.filename or ''})".replace(" ()", "")) from None
            raise ExportError(stage, f"{type(exc).__name__}: {exc}") from None
        elapsed = time.perf_counter() - start
        self.report.stage_seconds[stage] = round(self.report.stage_seconds.get(stage, 0.0) + elapsed, 3)
        return result


@cleanup_on_sigterm()
def export_run(
    run_ref: str,
    quants: str | list[str] = "q4_k_m",
    name: str | None = None,
    keep_intermediates: bool = False,
    max_loss_delta: float | None = None,
    eval_data_file: str | Path | None = None,
    max_eval_examples: int = DEFAULT_EVAL_EXAMPLES,
    score: bool = True,
    on_event: Progress | None = None,
) -> ExportReport:
    """Merge, convert, quantize, evaluate and register; returns what each quant cost (see the module doc).
    `score=False` skips the evaluation (no loss recorded; nothing for --max-loss-delta to judge)."""
    on_event = on_event or (lambda event: None)
    quant_types = parse_quant_types(quants)
    if max_loss_delta is not None and max_loss_delta < 0:
        raise BadInput(f"--max-loss-delta: expected a number >= 0, got {max_loss_delta}")
    if max_loss_delta is not None and not score:
        raise BadInput("--max-loss-delta needs the quants scored; drop --no-eval")
    finished, store, names, eval_data = _check(run_ref, quant_types, name, eval_data_file, max_eval_examples, score)
    report = ExportReport(
        run_id=finished.run.id,
        base_model=finished.base.display,
        merged=not finished.is_full,
        eval_data=eval_data.description if eval_data else None,
    )
    stages = _Stages(report, on_event)
    work_dir = finished.run.path / ("export" if keep_intermediates else owned_name("export", uuid.uuid4().hex[:8]))
    staged: dict[str, Path] = {}
    try:
        hf_dir = stages.run(
            "merge",
            "merging the adapter into the base (peft)" if not finished.is_full else "full fine-tune: no merge",
            lambda: merge_to_hf_dir(finished, work_dir / "hf"),
        )
        f16 = stages.run(
            "convert",
            "converting to GGUF f16 (llama.cpp convert_hf_to_gguf.py)",
            lambda: _convert(hf_dir, work_dir / f"{names['base']}.f16.gguf", names["base"], on_event),
        )
        f16_score = (
            stages.run(
                "eval", f"scoring f16 on {eval_data.description}", lambda: _score(f16, eval_data, "eval", on_event)
            )
            if eval_data
            else None
        )
        report.f16_size_bytes = f16.stat().st_size
        if f16_score:
            report.f16_loss, report.f16_perplexity = f16_score.loss, f16_score.perplexity
        for quant in quant_types:
            target = store.model_path(names[quant]).with_name(owned_name("export", f"{names[quant]}.gguf"))
            staged[quant] = target
            stages.run(
                f"quantize {quant}",
                f"quantizing to {quant} (llama.cpp)",
                lambda: _quantize(f16, target, quant, keep_intermediates, on_event),
            )
            quant_score = (
                stages.run(
                    f"eval {quant}", f"scoring {quant}", lambda: _score(target, eval_data, f"eval {quant}", on_event)
                )
                if eval_data
                else None
            )
            report.quants.append(_quant_report(quant, names[quant], target, quant_score, f16_score, max_loss_delta))
        source = f16 if keep_intermediates else finished.adapter_dir  # what outlives the export
        stages.run(
            "register",
            "registering in the model store",
            lambda: _register(store, finished, report, staged, source, report.eval_data),
        )
        report.template_check = stages.run(
            "template check",
            "one conversation rendered as training, llama.cpp and Ollama do",
            lambda: _template_check(report, finished, on_event),
        )
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)
        if keep_intermediates:
            report.intermediates = {
                "hf_dir": str(work_dir / "hf") if not finished.is_full else str(finished.adapter_dir),
                "f16_gguf": str(work_dir / f"{names['base']}.f16.gguf"),
            }
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return report


# files of a full fine-tune's output that are training state, not the model
TRAINING_STATE = ("checkpoint-*", "runs", "optimizer.pt", "scheduler.pt", "rng_state*.pth", "trainer_state.json",
                  "training_args.bin")  # fmt: skip


@cleanup_on_sigterm()
def export_hf(
    run_ref: str, directory: str | Path | None = None, name: str | None = None, on_event: Progress | None = None
) -> HfExportReport:
    """Merge a finished run and write it as an HF model directory (what vLLM, TGI and SGLang load): safetensors
    weights, config, tokenizer and chat template. Written beside `directory` under a temporary name and renamed
    into place; default `./NAME-hf`. A failure names its stage and leaves nothing behind."""
    on_event = on_event or (lambda event: None)
    try:
        finished = finished_run(run_ref)
        label = check_name(name or default_name(finished.run.name))
        target = Path(directory).expanduser() if directory else Path.cwd() / f"{label}-hf"
        if target.exists() or target.is_symlink():
            raise BadInput(f"{target}: already exists (choose another --output or remove it)")
        if not target.parent.is_dir():
            raise BadInput(f"{target.parent}: no such directory")
        _check_writable(target.parent)
    except LlmdeckError as exc:
        raise ExportError("check", str(exc), exc.exit_code) from None
    report = HfExportReport(finished.run.id, finished.base.display, not finished.is_full, str(target.absolute()))
    stages = _Stages(report, on_event)
    staging = target.parent / owned_name("export", target.name)
    try:
        if finished.is_full:
            stages.run(
                "copy",
                "full fine-tune: copying the model (no merge)",
                lambda: shutil.copytree(finished.adapter_dir, staging, ignore=shutil.ignore_patterns(*TRAINING_STATE)),
            )
        else:
            stages.run("merge", "merging the adapter into the base (peft)", lambda: merge_to_hf_dir(finished, staging))
        stages.run("check", "safetensors weights, tokenizer, chat template", lambda: _check_hf_dir(staging, report))
        if not report.chat_template:
            on_event(ExportEvent("check", "warning: the tokenizer has no chat template (servers will ask for one)"))
        _readable(staging)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _readable(directory: Path) -> None:
    """The umask's modes instead of the temporary directory's owner-only ones: a server under another user (a
    container) reads the export."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)


def _check_hf_dir(directory: Path, report: HfExportReport) -> None:
    """What a serving engine loads is there: config, safetensors weights (no pickles), a tokenizer."""
    import json

    files = sorted(p.name for p in directory.iterdir() if p.is_file())
    if "config.json" not in files or not any(f.endswith(".safetensors") for f in files):
        raise LlmdeckError(f"the merged model has no config.json or safetensors weights ({', '.join(files)})")
    if "tokenizer.json" not in files and "tokenizer.model" not in files:
        raise LlmdeckError("the merged model has no tokenizer (tokenizer.json or tokenizer.model)")
    for pickled in [f for f in files if f.endswith((".bin", ".pt", ".pth"))]:
        (directory / pickled).unlink()  # safetensors only: a pickle runs code when loaded
    tokenizer_config = directory / "tokenizer_config.json"
    in_config = tokenizer_config.exists() and bool(json.loads(tokenizer_config.read_text()).get("chat_template"))
    report.chat_template = in_config or (directory / "chat_template.jinja").exists()
    report.files = sorted(p.name for p in directory.iterdir() if p.is_file())
    report.size_bytes = sum((directory / f).stat().st_size for f in report.files)


def _template_check(report: ExportReport, finished: FinishedRun, on_event: Progress) -> dict | None:
    """The first registered quant checked against the run's saved tokenizer; a mismatch is a warning event."""
    from llmdeck.tuning.template_check import check_exported

    registered = next((item for item in report.quants if item.registered and item.path), None)
    if registered is None or registered.path is None:
        return None
    result = check_exported(Path(registered.path), registered.name, finished.adapter_dir)
    if result["consistent"] is not True:
        on_event(ExportEvent("template check", f"warning: {result['summary']}"))
    return result


def _check(run_ref: str, quant_types: list[str], name: str | None, eval_data_file, max_eval_examples: int, score: bool):
    """Everything that can be known before the first expensive stage: run, base, names, store, data, converter."""
    try:
        finished = finished_run(run_ref)
        store = ModelStore()
        base_name = check_name(name or default_name(finished.run.name))
        names = {"base": base_name, **{quant: check_name(f"{base_name}.{quant}") for quant in quant_types}}
        taken = [names[q] for q in quant_types if store.exists(names[q])]
        if taken:
            raise BadInput(f"model name(s) {', '.join(taken)} already in the store (choose another --name)")
        _check_writable(paths.models_dir())
        find_converter()
        eval_data = None
        if score:
            eval_data = (
                evaluate.from_file(eval_data_file, max_eval_examples)
                if eval_data_file
                else evaluate.from_run(finished.run.id, max_eval_examples, require_split=False)
            )
    except LlmdeckError as exc:
        raise ExportError("check", str(exc), exc.exit_code) from None
    return finished, store, names, eval_data


def _check_writable(directory: Path) -> None:
    try:
        probe = directory / f".write-probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise LlmdeckError(f"the model store directory {directory} is not writable ({exc.strerror or exc})") from None


def _convert(hf_dir: Path, outfile: Path, model_name: str, on_event: Progress) -> Path:
    tensors = {"n": 0}

    def on_line(line: str) -> None:
        if "-->" in line and line.startswith("INFO:hf-to-gguf:"):  # one line per converted tensor
            tensors["n"] += 1
            on_event(ExportEvent("convert", "tensors", tensors["n"], None))

    return convert_hf_to_gguf(hf_dir, outfile, model_name=model_name, on_line=on_line)


def _quantize(f16: Path, target: Path, quant: str, keep_f16: bool, on_event: Progress) -> Path:
    stage = f"quantize {quant}"
    if quant == "f16":  # the converter's output is the f16 quant
        if keep_f16:
            shutil.copyfile(f16, target)
        else:
            shutil.copyfile(f16, target) if _other_device(f16, target) else os.link(f16, target)
        return target
    return quantize_file(
        f16, target, quant, on_progress=lambda done, total: on_event(ExportEvent(stage, "tensors", done, total))
    )


def _other_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev != b.parent.stat().st_dev


def _score(path: Path, eval_data: evaluate.EvalData, stage: str, on_event: Progress) -> Score:
    return score_gguf(
        path, eval_data.examples, on_progress=lambda done, total: on_event(ExportEvent(stage, "sequences", done, total))
    )


def _quant_report(
    quant: str, name: str, path: Path, score: Score | None, f16: Score | None, max_loss_delta: float | None
) -> QuantReport:
    size = path.stat().st_size
    if score is None or f16 is None:
        return QuantReport(quant=quant, name=name, size_bytes=size, loss=None, perplexity=None, loss_delta=None)
    delta = score.loss - f16.loss
    refused = None
    if max_loss_delta is not None and delta > max_loss_delta:
        refused = f"loss delta {delta:+.4f} exceeds --max-loss-delta {max_loss_delta}"
    return QuantReport(
        quant=quant,
        name=name,
        size_bytes=size,
        loss=score.loss,
        perplexity=score.perplexity,
        loss_delta=delta,
        refused=refused,
    )


def _register(
    store: ModelStore,
    finished: FinishedRun,
    report: ExportReport,
    staged: dict[str, Path],
    source: Path,
    eval_description: str | None,
) -> None:
    """All accepted quants in one transaction; a failure moves every file back out of the store."""
    moved: list[Path] = []
    try:
        with db.transaction(store.conn):
            for item in report.quants:
                if item.refused:
                    continue
                lineage = Lineage(
                    base_model=finished.base.display,
                    run_id=finished.run.id,
                    quant_source=str(source),
                    quant_type=item.quant,
                    eval_loss=item.loss,
                    eval_perplexity=item.perplexity,
                    loss_delta=item.loss_delta,
                    eval_data=eval_description,
                )
                entry = store.register(staged[item.quant], name=item.name, lineage=lineage, move=True)
                moved.append(Path(entry.path))
                item.registered, item.path = True, entry.path
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        for item in report.quants:
            item.registered, item.path = False, None
        raise
