"""The app's chat while an answer streams, headless (Textual's Pilot) with the real embedded model:

- decode tokens/s in the app (the model process's rate while the app shows the answer) vs `llmdeck chat` on the
  same prompt, model and greedy sampling, runs alternating, medians;
- the app's CPU per 1,000 streamed tokens: its main (UI) thread and the whole app process (the model process is
  a child and not counted), and as a share of a core while the answer streams;
- key-to-screen latency: a key pressed into the prompt until its character is in the prompt, for keys sent while
  an answer streams vs with the app idle (p95 and median).

Targets (issue 22): decode in the app >= 0.9x the CLI; the UI thread under 15% of a core while it streams;
p95 key latency <= 100 ms. Prints human text on stderr and `SUMMARY {json}` last on stdout.

    python bench/tui_chat.py [--runs 2] [--keys 100] [--max-tokens 512]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Write a very long story about a dragon who learns to bake bread."
KEYS = "abcdefghijklmnopqrstuvwxyz"
SIZE = (120, 40)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only: the model process is a child
    return usage.ru_utime + usage.ru_stime


def cli_rate(max_tokens: int) -> tuple[float, int]:
    """`llmdeck chat PROMPT --json`: (tokens/s, tokens) from its final event."""
    result = subprocess.run(
        [sys.executable, "-m", "llmdeck.cli", "chat", PROMPT, "--max-tokens", str(max_tokens), "--temperature", "0"]
        + ["--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    ended = [json.loads(line) for line in result.stdout.splitlines() if '"tokens_per_s"' in line][-1]
    return float(ended["tokens_per_s"]), int(ended["tokens"])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def ready(pilot, app):
    from llmdeck.tui.screens.chat import ChatScreen

    deadline = time.monotonic() + 300
    while not (isinstance(app.screen, ChatScreen) and app.screen.model_name and not app.screen.switching):
        assert time.monotonic() < deadline, "the chat screen did not resolve its model"
        await pilot.pause(0.1)
    return app.screen


def status_text(screen) -> str:
    return str(screen.query_one("#chat-status").render())


async def send(pilot, screen, prompt: str) -> None:
    box = screen.query_one("#prompt")
    box.focus()
    box.value = prompt
    await pilot.press("enter")
    deadline = time.monotonic() + 120
    while not screen.busy:
        assert time.monotonic() < deadline, "the answer did not start"
        await pilot.pause(0.01)


async def until_answered(pilot, screen) -> tuple[int, float]:
    """(tokens, tokens/s) from the status line once the answer ends."""
    while screen.busy or "tok/s" not in status_text(screen):  # the status line is written after busy ends
        await pilot.pause(0.05)
    found = re.search(r"(\d+) tokens, ([\d.]+) tok/s", status_text(screen))
    notes = [n.message for n in screen.app._notifications]
    assert found, f"{status_text(screen)}; notifications: {notes}"
    return int(found.group(1)), float(found.group(2))


async def key_latencies(pilot, screen, keys: int, while_busy: bool) -> list[float]:
    box = screen.query_one("#prompt")
    box.focus()
    found = []
    for index in range(keys):
        if while_busy and not screen.busy:
            break
        character = KEYS[index % len(KEYS)]
        before = box.value
        start = time.perf_counter()
        await pilot.press(character)
        while box.value == before:
            await pilot.pause(0)
        found.append(time.perf_counter() - start)
        if len(box.value) > 60:
            box.value = ""
        await asyncio.sleep(0.02)
    return found


async def app_runs(runs: int, keys: int) -> dict:
    from llmdeck.tui.app import LlmdeckApp

    app = LlmdeckApp()
    measured: dict = {"rates": [], "ui_cpu_per_1k": [], "app_cpu_per_1k": [], "ui_share": [], "tokens": []}
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, app)
        await send(pilot, screen, "Say hi.")  # the model loads in the model process
        await until_answered(pilot, screen)
        measured["idle_keys"] = await key_latencies(pilot, screen, keys, while_busy=False)
        screen.query_one("#prompt").value = ""
        for _ in range(runs):
            await pilot.press("ctrl+n")
            await pilot.pause(0.2)
            ui_start, app_start, wall_start = time.thread_time(), process_cpu_s(), time.perf_counter()
            await send(pilot, screen, PROMPT)
            tokens, rate = await until_answered(pilot, screen)
            ui_s, app_s = time.thread_time() - ui_start, process_cpu_s() - app_start
            wall = time.perf_counter() - wall_start
            measured["rates"].append(rate)
            measured["tokens"].append(tokens)
            measured["ui_cpu_per_1k"].append(ui_s * 1000 / max(tokens, 1))
            measured["app_cpu_per_1k"].append(app_s * 1000 / max(tokens, 1))
            measured["ui_share"].append(ui_s / wall)
            log(f"app: {tokens} tokens at {rate:.1f} tok/s; UI thread {ui_s:.2f} s, app process {app_s:.2f} s CPU")
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        await send(pilot, screen, PROMPT)
        await pilot.pause(1.0)  # tokens are flowing
        measured["streaming_keys"] = await key_latencies(pilot, screen, keys, while_busy=True)
        if screen.busy:
            await pilot.press("escape")
        while screen.busy:
            await pilot.pause(0.05)
    return measured


def row(metric: str, ours, baseline, target: str = "", ratio=None) -> dict:
    return {"metric": metric, "ours": ours, "baseline": baseline, "ratio": ratio, "target": target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmdeck-tui-chat-bench-"))
    os.environ["LLMDECK_HOME"] = str(work / "home")
    (work / "home").mkdir()
    (work / "home" / "config.toml").write_text(f"max_tokens = {args.max_tokens}\ntemperature = 0.0\n")
    try:
        cli = [cli_rate(args.max_tokens) for _ in range(args.runs)]
        log(f"llmdeck chat: {[f'{t} tokens at {r:.1f} tok/s' for r, t in cli]}")
        ours = asyncio.run(app_runs(args.runs, args.keys))
        cli += [cli_rate(args.max_tokens)]  # after the app too: the machine's load drifts
        cli_rates = [rate for rate, _ in cli]
        app_rate, cli_median = statistics.median(ours["rates"]), statistics.median(cli_rates)
        streaming, idle = ours["streaming_keys"], ours["idle_keys"]
        log(f"keys while streaming: {len(streaming)}, p95 {percentile(streaming, 0.95) * 1000:.1f} ms")
        rows = [
            row(
                "decode tok/s, app vs llmdeck chat (median)",
                round(app_rate, 1),
                round(cli_median, 1),
                ">= 0.9x",
                round(app_rate / cli_median, 2),
            ),
            row("UI-thread CPU s per 1,000 streamed tokens", round(statistics.median(ours["ui_cpu_per_1k"]), 3), None),
            row(
                "app-process CPU s per 1,000 streamed tokens", round(statistics.median(ours["app_cpu_per_1k"]), 3), None
            ),
            row(
                "UI thread, share of a core while streaming",
                round(statistics.median(ours["ui_share"]), 3),
                None,
                "< 0.15",
            ),
            row(
                f"key latency while streaming (ms), p95 of {len(streaming)}",
                round(percentile(streaming, 0.95) * 1000, 1),
                round(percentile(idle, 0.95) * 1000, 1),
                "<= 100 ms",
            ),
            row(
                "key latency while streaming (ms), median",
                round(statistics.median(streaming) * 1000, 1),
                round(statistics.median(idle) * 1000, 1),
            ),
        ]
        print("SUMMARY " + json.dumps({"bench": "tui_chat", "rows": rows}))
    finally:
        from llmdeck.services.chat_process import close_model_host

        close_model_host()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
