"""Run control, for the CLI and the TUI alike: launch, stop, resume, remove, wait, logs, metrics.

A launch validates the data (bad rows stop it before any model is loaded), checks the memory
estimate, records the run, and starts `python -m llmdeck.tuning.worker RUN_ID` in its own session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.core.atomic import atomic_write_text
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.textfiles import missing_reason
from llmdeck.core.validate import file_kind
from llmdeck.tuning import data, data_record
from llmdeck.tuning.callbacks import METRICS_FILE, STOP_FLAG, read_metrics
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.estimate import Estimate, estimate_run
from llmdeck.tuning.methods import get_method
from llmdeck.tuning.registry import ACTIVE, Registry, Run, checkpoints
from llmdeck.tuning.render import CHAT_TEMPLATES

LOG_FILE = "train.log"


TRUNCATION_THRESHOLD = 0.05  # share of rows over max_length above which a launch asks for --allow-truncation


@dataclass
class LaunchPlan:
    """What a launch (or a dry run) found before starting anything."""

    config: TrainConfig  # paths absolute, base model resolved to its store name (or absolute directory)
    data_report: data.DataReport
    estimate: Estimate
    precision: str
    device: str
    base_sha256: str | None
    notes: list[str] = field(default_factory=list)  # what the launch line says about the method and tuning

    def to_dict(self) -> dict:
        return {
            "config": self.config.model_dump(),
            "data": self.data_report.to_dict(),
            "estimate": self.estimate.to_dict(),
            "precision": self.precision,
            "device": self.device,
            "base_sha256": self.base_sha256,
            "notes": self.notes,
        }

    def refusal(self, force: bool = False) -> str | None:
        """Why `launch` would refuse this plan (too many rows truncated, not enough memory), or None."""
        cut = self.data_report.truncation
        if cut and cut["rows_over_share"] > TRUNCATION_THRESHOLD and not self.config.allow_truncation:
            return (
                f"{self.truncation_warning()}; pass --allow-truncation or raise --max-length "
                f"(to {cut['longest']} to keep every row whole)"
            )
        e = self.estimate
        if e.available_bytes is not None and not e.fits and not force:  # fits whenever nothing is measured
            return (
                f"estimated peak memory {e.peak_bytes / 2**30:.1f} GiB exceeds the "
                f"{e.available_bytes / 2**30:.1f} GiB available on {e.device}; lower batch_size/max_length, "
                "use LoRA/QLoRA, or pass --force"
            )
        return None

    def truncation_warning(self) -> str | None:
        """'23 of 999 rows (2.3%) exceed max_length 512 ...: 1.2% of assistant tokens would be cut', or None.

        With truncation allowed the tokens "are cut": the run trains on the cut rows.
        """
        cut = self.data_report.truncation
        if not cut or not cut["rows_over"]:
            return None
        return (
            f"{cut['rows_over']} of {cut['rows']} rows ({cut['rows_over_share']:.1%}) exceed max_length "
            f"{cut['max_length']} (longest {cut['longest']} tokens): {cut['assistant_cut_share']:.1%} of assistant "
            f"tokens {'are' if self.config.allow_truncation else 'would be'} cut"
        )


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_paths(config: TrainConfig) -> TrainConfig:
    """Every path in the config made absolute (the worker runs in the run directory) and checked to exist."""
    updates = {}
    if config.dataset:
        path = Path(config.dataset).expanduser()
        if path.exists():
            updates["dataset"] = str(path.resolve())
        elif path.is_symlink():  # a loop or a dangling link: say which
            raise BadInput(f"dataset: {config.dataset}: {missing_reason(path)}")
        elif not data.looks_like_hub_name(config.dataset):
            raise BadInput(
                f"dataset: {config.dataset}: no such file or directory (relative paths are from {Path.cwd()})"
            )
    if config.base_model and Path(config.base_model).expanduser().exists():
        updates["base_model"] = str(Path(config.base_model).expanduser().resolve())
    elif config.base_model and config.base_model.endswith(".gguf"):
        raise BadInput(f"base_model: {config.base_model}: no such file (relative paths are from {Path.cwd()})")
    for name in ("accelerate_config", "chat_template", "reward_fn"):
        value = getattr(config, name)
        if name == "chat_template" and value in CHAT_TEMPLATES:
            continue
        if value:
            file, function = value.rsplit(":", 1) if name == "reward_fn" else (value, None)
            path = Path(file).expanduser()
            kind = file_kind(path)
            if kind == "no such file":
                raise BadInput(f"{name}: {file}: no such file (relative paths are from {Path.cwd()})")
            if kind is not None:
                raise BadInput(f"{name}: {file}: {kind}")
            updates[name] = str(path.resolve()) + (f":{function}" if function else "")
    if config.reward_model and Path(config.reward_model).expanduser().is_dir():  # else a reward run's id or name
        updates["reward_model"] = str(Path(config.reward_model).expanduser().resolve())
    return config.model_copy(update=updates)


def plan(config: TrainConfig) -> LaunchPlan:
    """Validate data and base model, measure truncation, estimate memory/time; raises before any training model is
    loaded (online RL loads the policy once to measure its generation speed)."""
    from llmdeck.tuning import heads, rewards
    from llmdeck.tuning.models import fingerprint, load_tokenizer, needs_chat_template, resolve_base
    from llmdeck.tuning.recipe import check_quantization_supported, launch_notes, pick_device

    config = default_base(resolve_paths(config))
    config, reward_notes = rewards.check(config)  # the reward function's file, the reward run: before data or model
    prepared = data.prepare(
        config.dataset, config.dataset_format, config.method, config.skip_bad, config.max_samples, config.variables
    )
    rewards.check_answers(config, prepared.examples)
    base = resolve_base(config.base_model)
    heads.check_base_has_head(base, config.method)
    pinned_name = base.display if base.kind == "gguf" else base.location  # the store name, not "(default)"
    config = config.model_copy(update={"base_model": pinned_name})
    device = pick_device(config)
    check_quantization_supported(config, device.kind)
    tokenizer = load_tokenizer(base, config.chat_template)
    needs_chat_template(tokenizer, base, prepared.report.format, config.method)
    data.measure(prepared, tokenizer, config.max_length)
    report = prepared.report
    if report.blocks is not None:  # text: max_length blocks, whatever the documents' lengths
        n_examples, mean_tokens = report.blocks, float(config.max_length)
    else:
        n_examples, mean_tokens = len(prepared.examples), float(report.tokens["mean"]) if report.tokens else 0.0
    estimate = estimate_run(
        config,
        n_examples,
        mean_tokens,
        device.kind,
        device.dtype_name,
        prompts=prepared.examples if get_method(config.method).online else None,
    )
    return LaunchPlan(
        config, report, estimate, device.precision, device.kind, fingerprint(base), launch_notes(config) + reward_notes
    )


def default_base(config: TrainConfig) -> TrainConfig:
    """Encoder heads default to the embedded all-MiniLM-L6-v2 (a BERT encoder), so they train offline."""
    if config.base_model or not get_method(config.method).encoder:
        return config
    from llmdeck.core.embedded import embedded_embedding_model_dir

    return config.model_copy(update={"base_model": str(embedded_embedding_model_dir())})


def launch(config: TrainConfig, force: bool = False) -> tuple[Run, LaunchPlan]:
    """Check, record and start a run; BadInput when the estimate exceeds available memory (unless `force`) or
    too many rows would be truncated (unless `allow_truncation`)."""
    launch_plan = plan(config)
    config = launch_plan.config
    refusal = launch_plan.refusal(force)
    if refusal:
        raise BadInput(refusal)
    base_model = config.base_model
    assert base_model is not None  # plan pins the resolved base's name
    name = config.name or f"{config.method}-{Path(base_model).stem}-{time.strftime('%m%d-%H%M')}"
    registry = Registry()
    run = registry.create(
        name,
        config.method,
        base_model,
        launch_plan.data_report.source,
        config.model_dump(),
        config.launcher,
        base_sha256=launch_plan.base_sha256,
        device=launch_plan.device,
        precision=launch_plan.precision,
    )
    atomic_write_text(run.path / "config.yaml", config.to_yaml())
    data_record.record(run.path, launch_plan.data_report)  # file hashes and row counts, for `runs diff`
    _start(registry, run, resume=False)
    return registry.get(run.id), launch_plan


def active_runs(device: str) -> list[Run]:
    """Runs queued or training on `device` (the run queue's view)."""
    return [run for run in Registry().list() if run.status in ACTIVE and (run.device or "cpu") == device]


def _worker_command(run: Run, resume: bool) -> list[str]:
    config = TrainConfig(**run.config)
    worker = ["-m", "llmdeck.tuning.worker", run.id, *(["--resume"] if resume else [])]
    if config.launcher == "local":
        return [sys.executable, *worker]
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if config.accelerate_config:
        command += ["--config_file", config.accelerate_config]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        # torchrun-style workers; on a machine without CUDA they train on CPU over gloo
        command += ["--multi_gpu"] if config.num_processes > 1 else ([] if cuda_available() else ["--cpu"])
    command += ["--num_processes", str(config.num_processes)]
    return command + worker


def _start(registry: Registry, run: Run, resume: bool) -> None:
    env = dict(os.environ)
    env["TENSORBOARD_LOGGING_DIR"] = str(run.path / "tensorboard")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # a readable train.log: no progress-bar redraws (tqdm, datasets, hub downloads); the worker logs lines
    env.update(TQDM_DISABLE="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    (run.path / STOP_FLAG).unlink(missing_ok=True)
    registry.update(
        run.id, status="queued", phase="queued", error=None, finished_at=None, pid=None, queued_at=time.time()
    )
    try:
        with (run.path / LOG_FILE).open("ab") as log:
            process = subprocess.Popen(
                _worker_command(run, resume),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=run.path,
                env=env,
                start_new_session=True,
            )
    except OSError as exc:
        registry.update(run.id, status="failed", error=f"could not start the worker: {exc}")
        raise LlmdeckError(f"run {run.id}: could not start the worker ({exc})") from None
    registry.update(run.id, pid=process.pid)


def stop(run_id: str, wait: bool = False, timeout_s: float = 300) -> Run:
    """Graceful stop: the worker saves a checkpoint at the end of the current step and exits `stopped`."""
    registry = Registry()
    run = registry.get(run_id)
    if run.status not in ACTIVE:
        raise BadInput(f"run {run.id} is not running (status {run.status})")
    (run.path / STOP_FLAG).write_text(str(time.time()))
    return wait_for(run.id, timeout_s=timeout_s) if wait else run


def resume(run_id: str) -> Run:
    """Continue a stopped or failed run from its latest checkpoint (same step, optimizer and scheduler state),
    on the same base model: a base that changed since launch is refused."""
    registry = Registry()
    run = registry.get(run_id)
    if run.status not in ("stopped", "failed"):
        raise BadInput(f"run {run.id} is {run.status}; only stopped or failed runs can be resumed")
    check_base_unchanged(run)
    saved = checkpoints(run.path)
    step = int(saved[-1].name.rsplit("-", 1)[1]) if saved else 0
    _truncate_metrics(run.path, step)  # steps logged after the checkpoint will be trained again
    registry.update(run.id, global_step=step)
    _start(registry, run, resume=bool(saved))
    return registry.get(run.id)


def check_base_unchanged(run: Run) -> None:
    """BadInput (one line) when the run's pinned base model is gone or is no longer the same file."""
    from llmdeck.tuning.models import fingerprint, resolve_base

    if not run.base_sha256:
        return  # hub ids, and runs recorded before bases were pinned
    try:
        now = fingerprint(resolve_base(run.base_model))
    except BadInput:
        raise BadInput(
            f"run {run.id}: its base model {run.base_model!r} is no longer available; "
            "the run needs the model it was launched with"
        ) from None
    if now != run.base_sha256:
        raise BadInput(
            f"run {run.id}: its base model {run.base_model!r} changed since launch (sha256 "
            f"{run.base_sha256.removeprefix('dir:')[:12]}..., now {str(now).removeprefix('dir:')[:12]}...); "
            "the run needs the model it was launched with - start a new run instead"
        )


def _truncate_metrics(run_dir: Path, last_step: int) -> None:
    """Keep the rows up to `last_step`; a torn or unparseable line (a kill mid-write) is dropped."""
    kept = [row for row in read_metrics(run_dir) if int(row.get("step", 0) or 0) <= last_step]
    if kept or (run_dir / METRICS_FILE).exists():
        atomic_write_text(run_dir / METRICS_FILE, "".join(json.dumps(row) + "\n" for row in kept))


def remove(run_id: str) -> Run:
    registry = Registry()
    run = registry.get(run_id)
    if run.status in ACTIVE:
        raise BadInput(f"run {run.id} is {run.status}; stop it first (`llmdeck runs stop {run.id}`)")
    registry.delete(run.id)
    shutil.rmtree(run.path, ignore_errors=True)
    return run


def get(run_id: str) -> Run:
    return Registry().get(run_id)


def list_runs() -> list[Run]:
    return Registry().list()


def wait_for(
    run_id: str, on_update: Callable[[Run], None] | None = None, timeout_s: float | None = None, poll_s: float = 0.5
) -> Run:
    """Block until the run leaves queued/running (dead processes are detected by the registry)."""
    registry = Registry()
    deadline = time.time() + timeout_s if timeout_s else None
    while True:
        run = registry.get(run_id)
        if on_update:
            on_update(run)
        if run.status not in ACTIVE:
            return run
        if deadline and time.time() > deadline:
            raise LlmdeckError(f"run {run.id} still {run.status} after {timeout_s:.0f}s")
        time.sleep(poll_s)


def metrics(run_id: str) -> list[dict]:
    return read_metrics(get(run_id).path)


def log_path(run_id: str) -> Path:
    return get(run_id).path / LOG_FILE


def follow_log(run_id: str, poll_s: float = 0.5) -> Iterator[str]:
    """The log's lines, then new ones as they are written, until the run finishes."""
    registry = Registry()
    run = registry.get(run_id)
    path = run.path / LOG_FILE
    position = 0
    while True:
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            if chunk:
                yield from chunk.decode("utf-8", errors="replace").splitlines()
        if registry.get(run_id).status not in ACTIVE:
            if not path.exists() or path.stat().st_size == position:
                return
        else:
            time.sleep(poll_s)
