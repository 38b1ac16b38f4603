"""The training process: `python -m llmdeck.tuning.worker RUN_ID [--resume]` (or under `accelerate launch`).

Waits for the device in the run queue, prepares the data, loads the base (or the method's own head model) and
builds the trainer from the method's module in `tuning/methods/`, trains with resumable checkpoints, and saves the
adapter; reports phases, metrics and the outcome to the run registry. Never runs inside the CLI or TUI process;
only the main process (rank 0) writes state.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from llmdeck.core.errors import LlmdeckError
from llmdeck.tuning import data, queue
from llmdeck.tuning.callbacks import METRICS_FILE, StopRequest, append_metrics_row, make_callbacks, read_metrics
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.methods import get_method
from llmdeck.tuning.registry import Registry, checkpoints


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def train(run_id: str, resume: bool, registry: Registry, stop: StopRequest) -> str:
    """Run the recipe; returns the final status ('completed' or 'stopped')."""
    from llmdeck.tuning.recipe import check_quantization_supported, pick_device

    run = registry.get(run_id)
    config = TrainConfig(**run.config)
    device = pick_device(config)
    check_quantization_supported(config, device.kind)
    held = wait_for_device(registry, run, device.kind, stop)
    if not held:
        return "stopped"
    try:
        return _train_holding_device(registry, run, resume, stop, config, device)
    finally:
        if hasattr(held, "close"):
            held.close()  # frees the device for the next queued run


def _train_holding_device(registry: Registry, run, resume: bool, stop: StopRequest, config: TrainConfig, device) -> str:
    """Load, tokenize, train, save, reporting each phase."""
    import torch
    from transformers import PrinterCallback, set_seed

    from llmdeck.tuning.models import load_base_model, load_tokenizer, needs_chat_template, resolve_base
    from llmdeck.tuning.recipe import adapter_config, quantization_config
    from llmdeck.tuning.runs import check_base_unchanged

    main_process = is_main_process()
    run_id, run_dir = run.id, run.path
    set_phase = phase_reporter(registry, run_id, run_dir, main_process)
    if main_process:
        registry.update(run_id, status="running", started_at=time.time(), precision=device.precision)
        print(f"llmdeck worker: precision {device.precision}", flush=True)
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // world_size()))
    # before the model loads: a new head and the adapter are initialised from `seed` (trl's SFT, KTO and reward
    # trainers create the peft model before the Trainer seeds), so the same config trains the same weights
    set_seed(config.seed)
    set_phase("loading model")
    prepared = data.prepare(
        config.dataset, config.dataset_format, config.method, config.skip_bad, config.max_samples, config.variables
    )
    train_rows, eval_rows = data.split_eval(prepared.examples, config.eval_split, config.seed)
    check_base_unchanged(registry.get(run_id))  # a queued run may start long after its launch
    recipe = get_method(config.method).recipe()  # build_trainer and the optional steps (see tuning/methods)
    base = resolve_base(config.base_model)
    tokenizer = load_tokenizer(base, config.chat_template)
    needs_chat_template(tokenizer, base, prepared.report.format, config.method)
    dtype = getattr(torch, device.dtype_name)
    if hasattr(recipe, "load_model"):
        model = recipe.load_model(base, dtype, quantization_config(config, dtype), config, prepared.examples)
    else:
        model = load_base_model(base, dtype, quantization_config(config, dtype))
    if config.chat_template:  # the new stop token ends generation in the saved model too
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.config.eos_token_id = tokenizer.eos_token_id

    latest_metrics: dict = dict(run.last_metrics or {})

    def on_metrics(row: dict) -> None:  # an eval row keeps the last train loss, and vice versa
        latest_metrics.update(row)
        registry.update(
            run_id,
            global_step=row["step"],
            max_steps=row.get("max_steps"),
            last_metrics=latest_metrics,
            phase="training",
        )

    set_phase("tokenizing")
    to_dataset = getattr(recipe, "training_dataset", training_dataset)
    train_set = to_dataset(train_rows, tokenizer, config)
    eval_set = to_dataset(eval_rows, tokenizer, config) if eval_rows else None
    latest = checkpoints(run_dir)[-1] if resume and checkpoints(run_dir) else None
    callbacks = make_callbacks(run_dir, stop, on_metrics, main_process, elapsed_offset=_elapsed_before(run_dir, latest))
    peft_config = adapter_config(
        config,
        getattr(recipe, "TASK_TYPE", "CAUSAL_LM"),
        getattr(recipe, "HEAD", None),
        getattr(recipe, "EXCLUDE", None),
    )
    trainer = recipe.build_trainer(
        model, tokenizer, train_set, eval_set, config, run_dir, device, callbacks, peft_config
    )
    trainer.remove_callback(PrinterCallback)  # the metrics callback logs one readable line per step
    set_phase("training")
    trainer.train(resume_from_checkpoint=str(latest) if latest else None)
    if main_process:
        registry.update(run_id, global_step=trainer.state.global_step, max_steps=trainer.state.max_steps)
    if stop.acted:
        return "stopped"
    set_phase("saving")
    task = recipe.task_info(trainer.model, config) if hasattr(recipe, "task_info") else None
    save_adapter(trainer, run_dir, task)
    return "completed"


def training_dataset(rows: list[dict], tokenizer, config: TrainConfig):
    """Text rows -> EOS-joined `max_length` token blocks; conversations keep their tools where the template
    renders them (else in the system turn)."""
    from llmdeck.tuning import render

    if rows and "text" in rows[0]:
        blocks = render.text_blocks([row["text"] for row in rows], tokenizer, config.max_length)
        return data.to_dataset([{"input_ids": block} for block in blocks])
    tools_rendered = (
        get_method(config.method).tools_rendered
        and bool(tokenizer.chat_template)
        and render.template_supports_tools(tokenizer)
    )
    return data.to_dataset(render.place_tools(rows, tokenizer, tools_rendered))


def wait_for_device(registry: Registry, run, device_kind: str, stop: StopRequest):
    """The run queue: rank 0 waits for the device's lock (unless `parallel`); other ranks wait for rank 0."""
    if run.config.get("parallel"):
        return True
    if is_main_process():
        return queue.wait_turn(registry, run.id, device_kind, stop)
    while registry.get(run.id).status == "queued" and not stop.requested:
        time.sleep(queue.POLL_S)
    return None if stop.requested and registry.get(run.id).status != "running" else True


def phase_reporter(registry: Registry, run_id: str, run_dir: Path, main_process: bool):
    """set_phase(name): the registry (runs list, progress line), a log line and, up to training, a metrics row
    (rank 0 only). `saving` gets no metrics row: the last row of a finished run stays its last training row."""

    def set_phase(name: str) -> None:
        if not main_process:
            return
        step = registry.get(run_id).global_step
        registry.update(run_id, phase=name)
        if name != "saving":
            append_metrics_row(run_dir / METRICS_FILE, {"step": step, "phase": name, "time": time.time()})
        print(f"llmdeck worker: {name}", flush=True)

    return set_phase


def _elapsed_before(run_dir: Path, checkpoint: Path | None) -> float:
    """Training seconds of earlier sessions: the last elapsed_s logged up to the checkpoint resumed from."""
    if checkpoint is None:
        return 0.0
    rows = [row for row in read_metrics(run_dir) if "elapsed_s" in row]
    return float(rows[-1]["elapsed_s"]) if rows else 0.0


def quiet_libraries() -> None:
    """train.log stays readable: each warning once, none of the libraries' Future/DeprecationWarnings (about their
    own API, nothing a run's owner can act on), no progress-bar redraws from the libraries."""
    import warnings

    warnings.simplefilter("once")
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    try:
        import datasets
        import transformers

        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_warning()
    except Exception:  # the run still trains with noisier logs
        pass


def save_adapter(trainer, run_dir: Path, task: dict | None = None) -> None:
    """The adapter (or full model) and tokenizer, plus `task.json` for task heads, written to a temp dir and
    renamed into place."""
    import json

    from llmdeck.tuning.heads import TASK_FILE

    final = Path(run_dir) / "adapter"
    staging = Path(run_dir) / ".adapter.tmp"
    if is_main_process() and staging.exists():
        shutil.rmtree(staging)
    trainer.save_model(str(staging))
    if is_main_process():
        if task:
            (staging / TASK_FILE).write_text(json.dumps(task, indent=1), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m llmdeck.tuning.worker RUN_ID [--resume]", file=sys.stderr)
        return 2
    run_id, resume = argv[0], "--resume" in argv
    registry = Registry()
    run_dir = registry.get(run_id).path
    stop = StopRequest(run_dir)
    stop.install_signal_handler()
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(run_dir / "tensorboard"))
    main_process = is_main_process()
    if main_process:
        registry.update(run_id, finished_at=None, error=None)
    print(f"llmdeck worker: run {run_id} ({'resume' if resume else 'start'}), pid {os.getpid()}", flush=True)
    quiet_libraries()
    try:
        status = train(run_id, resume, registry, stop)
    except BaseException as exc:  # the registry must learn about every failure
        if isinstance(exc, LlmdeckError):  # an expected problem: one line, no traceback
            print(f"llmdeck worker: error: {exc}", flush=True)
        else:
            traceback.print_exc()
        if main_process:
            message = str(exc) if isinstance(exc, LlmdeckError) else f"{type(exc).__name__}: {exc}"
            registry.update(
                run_id,
                status="failed",
                error=message.splitlines()[0][:500] if message else type(exc).__name__,
                finished_at=time.time(),
                pid=None,
                phase=None,
            )
        return 1
    if main_process:
        registry.update(run_id, status=status, finished_at=time.time(), pid=None, error=None, phase=None)
    print(f"llmdeck worker: run {run_id} {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
