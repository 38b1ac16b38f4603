"""The app while it monitors a run, headless (Textual's Pilot): a fake run whose metrics and log another process
appends to (a row and a log line every 0.1 s, faster than a real run logs), followed on the train screen.

- the app process's CPU (all its threads) and its main (UI) thread's, as a share of a core, while monitoring vs
  the same screen with the run's files not growing;
- key latency (a key into the runs table until the app has handled it), p95 and median, monitoring vs idle;
- the plots' redraws per second while rows arrive at 10 per second.

Target (issue 22): app CPU while monitoring under 5% of a core; p95 key latency <= 100 ms.
Prints human text on stderr and `SUMMARY {json}` last on stdout.

    python bench/tui_monitor.py [--seconds 15] [--keys 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = (150, 48)
APPENDER = """
import json, sys, time
metrics, log = sys.argv[1], sys.argv[2]
step = 0
while True:
    step += 1
    row = {"step": step, "loss": 2.0 / (1 + step / 100), "learning_rate": 1e-4, "grad_norm": 1.0, "tokens_per_s": 150.0}
    with open(metrics, "a") as handle:
        handle.write(json.dumps(row) + "\\n")
    with open(log, "a") as handle:
        handle.write(f"step {step}: loss {row['loss']:.4f}\\n")
    time.sleep(0.1)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def fake_run():
    """A running run's row (this process's pid, so the registry sees it alive) and its directory."""
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.registry import Registry

    registry = Registry()
    run = registry.create(
        "bench-monitor", "sft", "smollm2-135m-instruct", "sample", TrainConfig().model_dump(), "local"
    )
    registry.update(run.id, status="running", pid=os.getpid(), max_steps=100000, started_at=time.time())
    return run


async def measure(pilot, seconds: float) -> tuple[float, float]:
    """(app-process, UI-thread) CPU as a share of a core over `seconds`."""
    app_start, ui_start, wall_start = process_cpu_s(), time.thread_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - wall_start
    return (process_cpu_s() - app_start) / wall, (time.thread_time() - ui_start) / wall


async def key_latencies(pilot, keys: int) -> list[float]:
    found = []
    for index in range(keys):
        start = time.perf_counter()
        await pilot.press("down" if index % 2 else "up")  # the runs table: one run, the cursor stays
        found.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)
    return found


async def bench(seconds: float, keys: int) -> dict:
    from llmdeck.tui.app import LlmdeckApp

    run = fake_run()
    app = LlmdeckApp()
    found: dict = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        deadline = time.monotonic() + 300
        while getattr(app.screen, "followed", None) != run.id:  # the train screen follows the run
            assert time.monotonic() < deadline, "the train screen did not follow the run"
            await pilot.pause(0.1)
        screen = app.screen
        log("following the run")
        await pilot.pause(2.0)
        found["idle"] = await measure(pilot, seconds)
        found["idle_keys"] = await key_latencies(pilot, keys)
        appender = subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(run.path / "metrics.jsonl"), str(run.path / "train.log")]
        )
        try:
            monitor = screen.query_one("#monitor")
            await pilot.pause(2.0)
            drawn = monitor.plots_drawn
            found["monitoring"] = await measure(pilot, seconds)
            found["redraws_per_s"] = (monitor.plots_drawn - drawn) / seconds
            found["monitoring_keys"] = await key_latencies(pilot, keys)
            found["rows"] = len(monitor.metrics_rows)
        finally:
            appender.kill()
            appender.wait()
    return found


def row(metric: str, ours, baseline, target: str = "") -> dict:
    return {"metric": metric, "ours": ours, "baseline": baseline, "ratio": None, "target": target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--keys", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmdeck-tui-monitor-bench-"))
    os.environ["LLMDECK_HOME"] = str(work / "home")
    try:
        found = asyncio.run(bench(args.seconds, args.keys))
        (app_cpu, ui_cpu), (idle_app, idle_ui) = found["monitoring"], found["idle"]
        keys, idle_keys = found["monitoring_keys"], found["idle_keys"]
        log(f"monitoring {found['rows']} rows: app {app_cpu:.3f}, UI thread {ui_cpu:.3f} of a core")
        rows = [
            row(
                "app CPU while monitoring, share of a core (vs not growing)",
                round(app_cpu, 3),
                round(idle_app, 3),
                "< 0.05",
            ),
            row("UI-thread CPU while monitoring, share of a core", round(ui_cpu, 3), round(idle_ui, 3)),
            row("plot redraws per second (10 rows/s arriving)", round(found["redraws_per_s"], 2), None, "<= 4"),
            row(
                f"key latency while monitoring (ms), p95 of {len(keys)}",
                round(percentile(keys, 0.95) * 1000, 1),
                round(percentile(idle_keys, 0.95) * 1000, 1),
                "<= 100 ms",
            ),
            row(
                "key latency while monitoring (ms), median",
                round(statistics.median(keys) * 1000, 1),
                round(statistics.median(idle_keys) * 1000, 1),
            ),
        ]
        print("SUMMARY " + json.dumps({"bench": "tui_monitor", "rows": rows}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
