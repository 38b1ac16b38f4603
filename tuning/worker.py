"""The training process: `python -m tuning.worker RUN_ID [--resume]` (or under `accelerate launch`).

Loads data and model, builds the method's trl trainer, trains, and reports to the registry;
never runs inside the CLI or TUI process. Only the main process (rank 0) writes state.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from llmdeck.core.errors import LlmdeckError
from llmdeck.tuning import data
from llmdeck.tuning.callbacks import StopRequest, make_callbacks
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.registry import Registry, checkpoints

RECIPES = {"sft": "llmdeck.tuning.sft", "dpo": "llmdeck.tuning.dpo", "orpo": "llmdeck.tuning.orpo"}


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def train(run_id: str, resume: bool, registry: Registry, stop: StopRequest) -> str:
    """Run the recipe; returns the final status ('completed' or 'stopped')."""
    import importlib

    import torch

    from llmdeck.tuning.models import load_base_model, load_tokenizer, resolve_base
    from llmdeck.tuning.recipe import check_quantization_supported, lora_config, pick_device, quantization_config

    run = registry.get(run_id)
    run_dir = run.path
    config = TrainConfig(**run.config)
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // world_size()))
    prepared = data.prepare(config.dataset, config.dataset_format, config.method, config.skip_bad, config.max_samples)
    train_rows, eval_rows = data.split_eval(prepared.examples, config.eval_split, config.seed)
    device = pick_device(config)
    check_quantization_supported(config, device.kind)
    base = resolve_base(config.base_model)
    tokenizer = load_tokenizer(base)
    dtype = getattr(torch, device.dtype_name)
    model = load_base_model(base, dtype, quantization_config(config, dtype))

    latest_metrics: dict = dict(run.last_metrics or {})

    def on_metrics(row: dict) -> None:  # an eval row keeps the last train loss, and vice versa
        latest_metrics.update(row)
        registry.update(run_id, global_step=row["step"], max_steps=row.get("max_steps"), last_metrics=latest_metrics)

    callbacks = make_callbacks(run_dir, stop, on_metrics, is_main_process())
    recipe = importlib.import_module(RECIPES[config.method])
    trainer = recipe.build_trainer(model, tokenizer, data.to_dataset(train_rows),
                                   data.to_dataset(eval_rows) if eval_rows else None, config, run_dir, device,
                                   callbacks, lora_config(config))
    latest = checkpoints(run_dir)[-1] if resume and checkpoints(run_dir) else None
    trainer.train(resume_from_checkpoint=str(latest) if latest else None)
    if is_main_process():
        registry.update(run_id, global_step=trainer.state.global_step, max_steps=trainer.state.max_steps)
    if stop.acted:
        return "stopped"
    save_adapter(trainer, run_dir)
    return "completed"


def save_adapter(trainer, run_dir: Path) -> None:
    """The LoRA adapter (or full model) and tokenizer, written to a temp dir and renamed into place."""
    final = Path(run_dir) / "adapter"
    staging = Path(run_dir) / ".adapter.tmp"
    if is_main_process() and staging.exists():
        shutil.rmtree(staging)
    trainer.save_model(str(staging))
    if is_main_process():
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tuning.worker RUN_ID [--resume]", file=sys.stderr)
        return 2
    run_id, resume = argv[0], "--resume" in argv
    registry = Registry()
    run_dir = registry.get(run_id).path
    stop = StopRequest(run_dir)
    stop.install_signal_handler()
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(run_dir / "tensorboard"))
    main_process = is_main_process()
    if main_process:
        registry.update(run_id, status="running", started_at=time.time(), finished_at=None, error=None)
    print(f"llmdeck worker: run {run_id} ({'resume' if resume else 'start'}), pid {os.getpid()}", flush=True)
    try:
        status = train(run_id, resume, registry, stop)
    except BaseException as exc:  # the registry must learn about every failure
        traceback.print_exc()
        if main_process:
            message = str(exc) if isinstance(exc, LlmdeckError) else f"{type(exc).__name__}: {exc}"
            registry.update(run_id, status="failed", error=message.splitlines()[0][:500] if message else type(exc).__name__,
                            finished_at=time.time(), pid=None)
        return 1
    if main_process:
        registry.update(run_id, status=status, finished_at=time.time(), pid=None, error=None)
    print(f"llmdeck worker: run {run_id} {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
