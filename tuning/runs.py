"""Run control, for the CLI and the TUI alike: launch, stop, resume, remove, wait, logs, metrics.

A launch validates the data (bad rows stop it before any model is loaded), checks the memory
estimate, records the run, and starts `python -m tuning.worker RUN_ID` in its own session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.atomic import atomic_write_text
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.tuning import data
from llmdeck.tuning.callbacks import METRICS_FILE, STOP_FLAG, read_metrics
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.estimate import Estimate, estimate_run
from llmdeck.tuning.registry import ACTIVE, Registry, Run, checkpoints

LOG_FILE = "train.log"


@dataclass
class LaunchPlan:
    """What a launch (or a dry run) found before starting anything."""

    config: TrainConfig
    data_report: data.DataReport
    estimate: Estimate

    def to_dict(self) -> dict:
        return {"config": self.config.model_dump(), "data": self.data_report.to_dict(), "estimate": self.estimate.to_dict()}


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def plan(config: TrainConfig) -> LaunchPlan:
    """Validate data and base model, estimate memory/time; raises before any model is loaded."""
    from llmdeck.tuning.models import resolve_base
    from llmdeck.tuning.recipe import check_quantization_supported, pick_device

    prepared = data.prepare(config.dataset, config.dataset_format, config.method, config.skip_bad, config.max_samples)
    resolve_base(config.base_model)
    device = pick_device(config)
    check_quantization_supported(config, device.kind)
    mean_tokens = _mean_tokens_guess(prepared.examples)
    estimate = estimate_run(config, len(prepared.examples), mean_tokens, device.kind, device.dtype_name)
    return LaunchPlan(config, prepared.report, estimate)


def _mean_tokens_guess(examples: list[dict]) -> float:
    """~3.5 characters per token, plus chat-template framing per message (no tokenizer load)."""
    total = 0.0
    for example in examples:
        if "text" in example:
            total += len(example["text"]) / 3.5
            continue
        messages = example["prompt"] + example.get("completion", example.get("chosen", []))
        total += sum(len(m["content"]) / 3.5 + 5 for m in messages)
    return total / max(1, len(examples))


def launch(config: TrainConfig, force: bool = False) -> tuple[Run, LaunchPlan]:
    """Check, record and start a run; BadInput when the estimate exceeds available memory (unless `force`)."""
    launch_plan = plan(config)
    estimate = launch_plan.estimate
    if not estimate.fits and not force:
        raise BadInput(
            f"estimated peak memory {estimate.peak_bytes / 2**30:.1f} GiB exceeds the "
            f"{estimate.available_bytes / 2**30:.1f} GiB available on {estimate.device}; lower batch_size/max_length, "
            "use LoRA/QLoRA, or pass --force"
        )
    name = config.name or f"{config.method}-{Path(config.base_model or 'default').stem}-{time.strftime('%m%d-%H%M')}"
    registry = Registry()
    run = registry.create(name, config.method, config.base_model or "(default)",
                          launch_plan.data_report.source, config.model_dump(), config.launcher)
    atomic_write_text(run.path / "config.yaml", config.to_yaml())
    _start(registry, run, resume=False)
    return registry.get(run.id), launch_plan


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
    (run.path / STOP_FLAG).unlink(missing_ok=True)
    registry.update(run.id, status="queued", error=None, finished_at=None, pid=None)
    try:
        with (run.path / LOG_FILE).open("ab") as log:
            process = subprocess.Popen(_worker_command(run, resume), stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=run.path, env=env, start_new_session=True)
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
    """Continue a stopped or failed run from its latest checkpoint (same step, optimizer and scheduler state)."""
    registry = Registry()
    run = registry.get(run_id)
    if run.status not in ("stopped", "failed"):
        raise BadInput(f"run {run.id} is {run.status}; only stopped or failed runs can be resumed")
    saved = checkpoints(run.path)
    step = int(saved[-1].name.rsplit("-", 1)[1]) if saved else 0
    _truncate_metrics(run.path, step)  # steps logged after the checkpoint will be trained again
    registry.update(run.id, global_step=step)
    _start(registry, run, resume=bool(saved))
    return registry.get(run.id)


def _truncate_metrics(run_dir: Path, last_step: int) -> None:
    path = run_dir / METRICS_FILE
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


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


def wait_for(run_id: str, on_update: Callable[[Run], None] | None = None, timeout_s: float | None = None,
             poll_s: float = 0.5) -> Run:
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
