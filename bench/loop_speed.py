"""What the held-out evaluation of one model costs (the loop's evaluate stage, `llmdeck bench agents`), one
process on every core (the old default) against sweeps side by side in worker processes (`--workers`, default:
one per core, one llama.cpp thread each), in the same run, on the same tasks, each in its own fresh LLMDECK_HOME.

    python bench/loop_speed.py [--model smollm2-135m-instruct] [--limit 1] [--configs 1x0,1x1,0x0]

A config is WORKERSxTHREADS (0: the default: workers one per core, threads the cores divided among the workers).
Prints per config the seconds, the seconds per task, the ratio to the first config, the load average before
and after (`os.getloadavg`), and whether every attempt's verdict is the one the first config recorded (a
datetime answer holds the clock, so those tasks are compared without their answer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path


def verdicts(home: Path) -> dict[tuple[str, str, int], dict]:
    conn = sqlite3.connect(home / "llmdeck.db")
    rows = conn.execute("SELECT collection, task_id, sample, verdict FROM task_attempts")
    return {(c, t, s): json.loads(v) for c, t, s, v in rows}


def comparable(task_id: str, verdict: dict) -> dict:
    return {k: v for k, v in verdict.items() if not (k == "answer" and task_id.startswith("dates-"))}


def run(model: str, limit: int, workers: int | None, threads: int | None, home: Path) -> tuple[float, int]:
    os.environ["LLMDECK_HOME"] = str(home)
    from llmdeck.services.agent_bench import AttemptBenched, compare

    bench = compare([model], limit=limit, n_threads=threads, workers=workers)
    started, tasks = time.perf_counter(), 0
    for event in bench:
        tasks += isinstance(event, AttemptBenched)
    return time.perf_counter() - started, tasks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--limit", type=int, default=1, help="held-out tasks per category")
    parser.add_argument("--configs", default="1x0,1x1,0x0", help="WORKERSxTHREADS,... (0: the default)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; model {args.model}")
    first: dict | None = None
    base_seconds = None
    with tempfile.TemporaryDirectory(prefix="loop-speed-") as tmp:
        for index, config in enumerate(args.configs.split(",")):
            workers, threads = (int(n) or None for n in config.split("x"))
            home = Path(tmp) / f"home-{index}"
            load_before = os.getloadavg()[0]
            seconds, tasks = run(args.model, args.limit, workers, threads, home)
            load_after = os.getloadavg()[0]
            found = verdicts(home)
            same = None
            if first is None:
                first, base_seconds = found, seconds
            else:
                same = sorted(found) == sorted(first) and all(
                    comparable(k[1], found[k]) == comparable(k[1], first[k]) for k in first
                )
            print(
                f"workers {workers or 'auto'} x threads {threads or 'auto'}: {seconds:.1f} s for {tasks} tasks"
                f" ({seconds / max(tasks, 1):.2f} s per task), x{(base_seconds or seconds) / seconds:.2f} vs the"
                f" first; load {load_before:.2f} -> {load_after:.2f}"
                + ("" if same is None else f"; verdicts {'the same' if same else 'DIFFERENT'}"),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
