"""The run queue: one training run at a time per device (`cpu`, or `cuda` for the machine's GPUs).

Every worker starts at once but waits in `queued` until it is the oldest waiting run and holds the device's
lock (`$LLMDECK_HOME/locks/train-DEVICE.lock`, an `flock` that dies with its holder, so a killed run never
blocks the queue). A run with `parallel: true` skips the queue. A stop request ends a waiting run at once.
"""

from __future__ import annotations

import fcntl
import time
from pathlib import Path

from llmdeck.core import paths

POLL_S = 1.0


def lock_path(device_kind: str) -> Path:
    folder = paths.home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"train-{device_kind}.lock"


def holder(device_kind: str) -> str | None:
    """The id of the run holding the device, if any."""
    try:
        return lock_path(device_kind).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def try_acquire(device_kind: str, run_id: str):
    """The open, locked lock file (keep it open while training), or None when another run holds it."""
    handle = open(lock_path(device_kind), "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(run_id)
    handle.flush()
    return handle


def waiting_ahead(registry, run, device_kind: str) -> list:
    """Queued runs on this device that were queued before `run` and whose workers are alive (FIFO order)."""
    from llmdeck.tuning.registry import process_alive

    mine = run.queued_at or run.created_at
    return [
        other
        for other in registry.list()
        if other.id != run.id
        and other.status == "queued"
        and process_alive(other.pid)
        and not other.config.get("parallel")
        and (other.queued_at or other.created_at) < mine
        and (other.device or "cpu") == device_kind
    ]


def wait_turn(registry, run_id: str, device_kind: str, stop):
    """Block until this run may train on `device_kind`; returns the held lock, or None when a stop came first."""
    announced = None
    while True:
        if stop.requested:
            return None
        run = registry.get(run_id)
        ahead = waiting_ahead(registry, run, device_kind)
        if not ahead:
            handle = try_acquire(device_kind, run_id)
            if handle is not None:
                return handle
        blocker = holder(device_kind) or (ahead[0].id if ahead else "?")
        phase = f"queued: waiting for run {blocker}"
        if phase != announced:
            registry.update(run_id, phase=phase)
            print(f"llmdeck worker: {phase} ({device_kind} runs one at a time; --parallel skips the queue)", flush=True)
            announced = phase
        time.sleep(POLL_S)
