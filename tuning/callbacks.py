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


def make_callbacks(run_dir: Path, stop: StopRequest, on_metrics, is_main: bool) -> list:
    """[metrics callback, stop callback]; `on_metrics(row)` records a metrics row (main process only)."""
    import torch.distributed as dist
    from transformers import TrainerCallback

    metrics_path = Path(run_dir) / METRICS_FILE

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
                "elapsed_s": round(elapsed, 2),
                "eta_s": round(eta, 1) if eta is not None else None,
                "max_steps": state.max_steps,
                "peak_rss_bytes": peak_rss_bytes(),
                "time": time.time(),
            }
            extra = {k: v for k, v in logs.items() if k not in row and isinstance(v, (int, float))}
            row.update({k: extra[k] for k in sorted(extra) if k.startswith(("rewards/", "eval_", "log_odds", "nll_loss"))})
            row = {k: v for k, v in row.items() if v is not None}
            with metrics_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
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
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            continue
    return rows
