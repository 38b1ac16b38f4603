"""Trainer callbacks: metrics to JSONL + the registry, and the graceful-stop flag.

Built as TrainerCallback subclasses inside a function so importing this module stays light.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

STOP_FLAG = "STOP"
EVAL_PREFIX = "eval_"  # every eval metric; the methods' own (METHOD.metric_prefixes) are kept beside the shared columns
METRICS_FILE = "metrics.jsonl"


class StopRequest:
    """Set by SIGTERM or by the flag file `RUN_DIR/STOP` (what `runs stop` writes)."""

    def __init__(self, run_dir: Path):
        self.flag_file = Path(run_dir) / STOP_FLAG
        self.signalled = False
        self.acted = False  # the trainer left its loop because of this request

    def install_signal_handler(self) -> None:
        def on_term(signum, frame):
            self.signalled = True

        signal.signal(signal.SIGTERM, on_term)

    @property
    def requested(self) -> bool:
        return self.signalled or self.flag_file.exists()


def make_callbacks(run_dir: Path, stop: StopRequest, on_metrics, is_main: bool, elapsed_offset: float = 0.0) -> list:
    """[metrics callback, stop callback]; `on_metrics(row)` records a metrics row (main process only).

    `elapsed_offset` is the training time of earlier sessions of a resumed run, so elapsed_s keeps counting.
    """
    import torch.distributed as dist
    from transformers import TrainerCallback

    from llmdeck.tuning.methods import metric_prefixes

    metrics_path = Path(run_dir) / METRICS_FILE
    kept_prefixes = (EVAL_PREFIX, *metric_prefixes())

    class MetricsCallback(TrainerCallback):
        """One JSONL row per log: step, loss, eval loss, lr, grad norm, tokens/s, tokens seen, elapsed, ETA."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.start_time = time.time()
            self.start_step = state.global_step
            self.start_tokens = state.num_input_tokens_seen or 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not is_main or not logs or not ({"loss", "eval_loss"} & set(logs)):
                return
            elapsed = time.time() - self.start_time
            tokens = state.num_input_tokens_seen or 0
            steps_done = state.global_step - self.start_step
            eta = (elapsed / steps_done) * (state.max_steps - state.global_step) if steps_done > 0 else None
            row = {
                "step": state.global_step,
                "epoch": round(state.epoch or 0.0, 4),
                "loss": logs.get("loss"),
                "eval_loss": logs.get("eval_loss"),
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                "tokens_seen": tokens or None,  # None until the trainer has counted input tokens
                "tokens_per_s": round((tokens - self.start_tokens) / elapsed, 2) if elapsed > 0 and tokens else None,
                "elapsed_s": round(elapsed_offset + elapsed, 2),
                "phase": "training",
                "eta_s": round(eta, 1) if eta is not None else None,
                "max_steps": state.max_steps,
                "peak_rss_bytes": peak_rss_bytes(),
                "time": time.time(),
            }
            extra = {k: v for k, v in logs.items() if k not in row and isinstance(v, (int, float))}
            row.update({k: extra[k] for k in sorted(extra) if k.startswith(kept_prefixes)})
            row = {k: v for k, v in row.items() if v is not None}
            append_metrics_row(metrics_path, row)
            print(progress_line(row), flush=True)  # train.log reads as one line per logged step
            on_metrics(row)

    class StopCallback(TrainerCallback):
        """Graceful stop: at the end of the step, save a checkpoint and leave the loop."""

        def on_step_end(self, args, state, control, **kwargs):
            requested = stop.requested
            if dist.is_available() and dist.is_initialized():  # every rank stops at the same step
                flag = torch_tensor(float(requested))
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                requested = bool(flag.item())
            if requested and state.global_step < state.max_steps:
                control.should_save = True
                control.should_training_stop = True
                stop.acted = True
            return control

    return [MetricsCallback(), StopCallback()]


def progress_line(row: dict) -> str:
    """'step 3/12  loss 2.3141  lr 2.0e-04  151 tok/s  elapsed 41s  ETA 2m 3s' for train.log."""
    from llmdeck.core.units import duration

    parts = [f"step {row['step']}/{row.get('max_steps', '?')}"]
    if "loss" in row:
        parts.append(f"loss {row['loss']:.4f}")
    if "eval_loss" in row:
        parts.append(f"eval_loss {row['eval_loss']:.4f}")
    if "learning_rate" in row:
        parts.append(f"lr {row['learning_rate']:.1e}")
    if row.get("tokens_per_s"):
        parts.append(f"{row['tokens_per_s']:.0f} tok/s")
    parts.append(f"elapsed {duration(row['elapsed_s'])}")
    if "eta_s" in row:
        parts.append(f"ETA {duration(row['eta_s'])}")
    return "  ".join(parts)


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far."""
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def torch_tensor(value: float):
    import torch
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return torch.tensor([value], device=device)


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of metrics.jsonl; a torn line (a kill mid-write, or one being written now) and anything that is
    not a JSON object are skipped, and undecodable bytes never raise."""
    path = Path(run_dir) / METRICS_FILE
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def append_metrics_row(path: Path, row: dict) -> None:
    """Append one JSON line, first ending a torn last line left by a kill so the new row stays parseable."""
    with path.open("a+b") as handle:
        handle.seek(0, 2)
        if handle.tell():
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write((json.dumps(row) + "\n").encode("utf-8"))
