"""The docs' screenshots: every screen of the real app, headless (Textual's `App.run_test` and its Pilot), driven
by a scripted session on the embedded SmolLM2 and written as docs/screenshots/NAME.svg.

    make screenshots                                  # all of them (a few minutes on 2 cores)
    .venv/bin/python docs/screenshots.py chat models  # some; --list names them, --out DIR writes elsewhere

Everything runs in a temporary LLMDECK_HOME (the user's models, runs and sessions are untouched) at a fixed size,
in UTC. The chat, agent, arena, eval and RAG answers are the real model's; the training run, the verify run and the
loop are recorded ones (a real run takes minutes), seeded into the temporary home before the app starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

SIZE = (120, 40)
OUT = Path(__file__).resolve().parent / "screenshots"
STARTED_AT = 1767261600.0  # 2026-01-01 10:00 UTC: recorded runs show a fixed start time
WAIT_S = 240.0  # a deadline for a wait that would never end (a loaded 2-core machine is slow, never this slow)

Drive = Callable[..., Awaitable[None]]  # (pilot, screen): the steps of one shot on its ready screen


class Shot(NamedTuple):
    title: str  # the SVG's window title
    drive: Drive
    key: str | None = None  # the app's key to its screen (F2...); None: the chat, where it opens
    dialog: Callable[[], object] | None = None  # a screen shown alone in a DialogHost instead of the whole app


SHOTS: dict[str, Shot] = {}


def shot(name: str, title: str, key: str | None = None, dialog: Callable[[], object] | None = None):
    def register(func: Drive) -> Drive:
        SHOTS[name] = Shot(title, func, key, dialog)
        return func

    return register


# -- helpers --------------------------------------------------------------------------------------------------------
async def until(pilot, predicate, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            from llmdeck.tui.script import screen_text

            print(screen_text(pilot.app), file=sys.stderr)  # what the screen showed instead
            raise SystemExit(f"screenshots: timed out after {timeout_s:g}s waiting for {what}")
        await pilot.pause(0.1)


def text(widget) -> str:
    return str(widget.render())


async def steady(pilot) -> None:
    """Cursors hidden (a shot would catch them half-blinked), then one more refresh."""
    for widget in pilot.app.screen.query("*"):
        if getattr(widget, "cursor_blink", None):
            widget.cursor_blink = False
    await pilot.pause(0.3)


TEXT_DIR: list[Path] = []  # --text DIR: each screen as plain text too (to read a shot without an SVG viewer)


def save(pilot, out_dir: Path, name: str, title: str) -> Path:
    from llmdeck.core.atomic import atomic_write_text
    from llmdeck.tui.script import screen_text

    path = out_dir / f"{name}.svg"
    atomic_write_text(path, pilot.app.export_screenshot(title=title))
    for text_dir in TEXT_DIR:
        atomic_write_text(text_dir / f"{name}.txt", screen_text(pilot.app))
    print(f"screenshots: {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)
    return path


def app():
    from llmdeck.tui.app import LlmdeckApp

    return LlmdeckApp()


class DialogHost:
    """A bare app with llmdeck's stylesheet showing one pushed screen alone (the eval, arena, loop screens are
    pushed over a mode screen; alone they need no model on the screen behind them)."""

    def __new__(cls, dialog):
        from textual.app import App

        from llmdeck.tui import app as app_module

        class Host(App):
            CSS_PATH = Path(app_module.__file__).parent / "app.tcss"
            TITLE = app_module.LlmdeckApp.TITLE

            def on_mount(self) -> None:
                self.push_screen(dialog)

        return Host()


async def mode_screen_ready(pilot, key: str | None = None) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "model_name", None) is not None, "the chat model")
    if key:
        await pilot.press(key)
        await pilot.pause(0.5)


async def send(pilot, selector: str, words: str) -> None:
    """`words` into the input at `selector`, then Enter, as a person sends a prompt."""
    pilot.app.screen.query_one(selector).value = words
    await pilot.click(selector)
    await pilot.press("enter")


async def take(name: str, out_dir: Path) -> None:
    """One shot: the app on the shot's screen (or its dialog alone), headless at SIZE; the shot's own steps; then
    the screen steadied and saved as NAME.svg."""
    spec = SHOTS[name]
    dialog = spec.dialog() if spec.dialog else None
    host = app() if dialog is None else DialogHost(dialog)
    async with host.run_test(headless=True, size=SIZE) as pilot:
        pilot.app.animation_level = "none"  # no shot catches a transition half-way
        if dialog is None:
            await mode_screen_ready(pilot, spec.key)
        else:
            await until(pilot, lambda: pilot.app.screen is dialog, f"the {name} screen")
        await spec.drive(pilot, pilot.app.screen)
        await steady(pilot)
        save(pilot, out_dir, name, spec.title)


# -- the shots: each one's steps on its ready screen -----------------------------------------------------------------
@shot("chat", "llmdeck: chat")
async def chat_shot(pilot, screen) -> None:
    await send(pilot, "#prompt", "Give me three tips for writing clear commit messages.")
    await until(pilot, lambda: screen.busy, "the answer to start")
    await until(pilot, lambda: not screen.busy and "tok/s" in text(screen.query_one("#chat-status")), "the answer")
    status = screen.query_one("#chat-status")  # speeds are this machine's at that moment: tokens and context stay
    status.update(re.sub(r", [0-9.]+ tok/s|, first token [0-9]+ ms", "", text(status)))


@shot("models", "llmdeck: models", key="f2")
async def models_shot(pilot, screen) -> None:
    await until(pilot, lambda: "smollm2" in text(screen.query_one("#model-meta")), "the model's metadata")
    meta = text(screen.query_one("#model-meta")).splitlines()  # the file's path is this machine's
    screen.query_one("#model-meta").update("\n".join(line for line in meta if not line.startswith("file")))


@shot("train-monitor", "llmdeck: train, a run's monitor", key="f3")
async def train_monitor_shot(pilot, screen) -> None:
    monitor = screen.query_one("#monitor")
    await until(pilot, lambda: len(monitor.metrics_rows) == 40, "the run's metrics")


@shot("train-form", "llmdeck: train, the new-run form and its estimate", key="f3")
async def train_form_shot(pilot, screen) -> None:
    await pilot.press("ctrl+n")
    screen.query_one("#in-dataset").value = SFT_DATASET  # a file of the session's folder, not the install's sample
    preview, estimate = screen.query_one("#data-preview"), screen.query_one("#estimate")
    await until(pilot, lambda: text(preview).startswith(SFT_DATASET), "the data check of the dataset")
    await until(pilot, lambda: SFT_DATASET in text(estimate) and "peak" in text(estimate), "the estimate")
    estimate.update(text(estimate).replace(f"{Path.cwd()}{os.sep}", ""))  # the plan's path is absolute: as typed


@shot("agents", "llmdeck: agents, a ReAct run with tools", key="f4")
async def agents_shot(pilot, screen) -> None:
    await until(pilot, lambda: bool(screen.models), "the store's models")
    await send(pilot, "#agent-question", "What is 17 * 23?")
    await until(pilot, lambda: screen.busy, "the agent to start")
    await until(pilot, lambda: not screen.busy, "the agent's answer")
    await until(pilot, lambda: screen.query_one("#agent-runs").row_count >= 1, "the run in the history")


@shot("verify", "llmdeck: verify, a recorded writer/executor run", key="f5")
async def verify_shot(pilot, screen) -> None:
    table = screen.query_one("#verify-runs")
    await until(pilot, lambda: table.row_count == 1, "the recorded run")
    table.focus()
    await pilot.press("enter")
    await until(pilot, lambda: bool(screen.query_one("#verify-rounds").query(".verdict")), "the verdict")


@shot("help", "llmdeck: help (F10), every screen's keys", key="f10")
async def help_shot(pilot, screen) -> None:
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen", "the help")


def loop_dialog():
    from llmdeck.tui.screens.loop import LoopScreen

    return LoopScreen()


@shot("loop", "llmdeck: the self-improvement loop (F3, then o)", dialog=loop_dialog)
async def loop_shot(pilot, screen) -> None:
    await pilot.pause(1.0)  # its list of loops is read in a worker


def eval_dialog():
    from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
    from llmdeck.tui.screens.evaluate import EvalScreen

    return EvalScreen([EMBEDDED_CHAT_MODEL_NAME, "smollm2-copy"], "evals.jsonl")


@shot("eval", "llmdeck: eval (F2, then v), two models on one eval file", dialog=eval_dialog)
async def eval_shot(pilot, screen) -> None:
    await pilot.press("ctrl+r")
    await until(pilot, lambda: screen.running, "the eval to start")
    await until(pilot, lambda: not screen.running and screen.query_one("#eval-table").row_count > 0, "the scores")


def arena_dialog():
    import random

    from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
    from llmdeck.tui.screens.arena import ArenaScreen

    return ArenaScreen(EMBEDDED_CHAT_MODEL_NAME, "smollm2-copy", rng=random.Random(0))


@shot("arena", "llmdeck: arena (F2, then a), a vote and the leaderboard", dialog=arena_dialog)
async def arena_shot(pilot, screen) -> None:
    await send(pilot, "#arena-prompt", "In one short sentence: what is the capital of France?")
    await until(pilot, lambda: screen.finished == {"left", "right"}, "both answers")
    await pilot.press("left")
    await pilot.press("l")
    await until(pilot, lambda: screen.query_one("#arena-board").row_count == 2, "the leaderboard")


def rag_eval_dialog():
    from llmdeck.tui.screens.rag_eval import RagEvalScreen

    seed_collection()
    return RagEvalScreen("notes", "questions.jsonl")


@shot("rag-eval", "llmdeck: rag eval (F1, ctrl+l, then ctrl+r), retrieval per mode", dialog=rag_eval_dialog)
async def rag_eval_shot(pilot, screen) -> None:
    await pilot.click("#rag-eval-start")
    await until(pilot, lambda: screen.report is not None, "the recall table", timeout_s=WAIT_S * 2)


# -- the temporary home's recorded state ---------------------------------------------------------------------------
def seed_training_run() -> None:
    from llmdeck.tuning.config import TrainConfig
    from llmdeck.tuning.registry import Registry

    registry = Registry()
    config = TrainConfig(name="sft-smollm2", base_model="smollm2-135m-instruct", dataset="sample", max_steps=40)
    run = registry.create("sft-smollm2", "sft", "smollm2-135m-instruct", "sample", config.model_dump(), "local")
    registry.conn.execute(
        "UPDATE runs SET id = '20260101-100000-5e1d2a', status = 'completed', global_step = 40, max_steps = 40,"
        " started_at = ?, finished_at = ?, last_metrics_json = ? WHERE id = ?",
        (STARTED_AT, STARTED_AT + 126, json.dumps({"loss": 1.31, "step": 40}), run.id),
    )  # a fixed id and start: the shot does not change with the day it was taken
    rows = [
        {
            "step": s,
            "loss": 1.25 + 1.4 * 0.92**s + 0.06 * ((s * 7) % 5) / 5,
            "learning_rate": 2e-4 * min(1.0, s / 4) * (1 - s / 41),
            "grad_norm": 1.8 * 0.97**s + 0.2,
            "tokens_per_s": 640.0 + 10 * (s % 4),
            "tokens_seen": 512 * s,
            "elapsed_s": 3.1 * s,
            "peak_rss_bytes": 1450 * 2**20,
            "max_steps": 40,
        }
        for s in range(1, 41)
    ]
    for s in (10, 20, 30, 40):
        rows[s - 1]["eval_loss"] = 1.45 + 1.2 * 0.93**s
    (run.path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (run.path / "train.log").write_text(
        "llmdeck worker: run started\nllmdeck worker: loading smollm2-135m-instruct\n"
        "llmdeck worker: training 40 steps\nllmdeck worker: run completed\n",
        encoding="utf-8",
    )


def recorded_run(run_id: str, kind: str, prompt: str, options: dict, events: list[dict], **fields) -> None:
    """A finished agent/verify run as `agents.records` stores it, with fixed times."""
    from llmdeck.agents import records
    from llmdeck.core import db

    row = {"status": "verified", "answer": None, "passed": None, "steps": 0, "isolation": None, **fields}
    with db.transaction(records._connect()) as conn:
        conn.execute(
            "INSERT INTO agent_runs (id, kind, prompt, model, options, status, answer, passed, steps,"
            " isolation, started_at, finished_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                kind,
                prompt,
                "smollm2-135m-instruct",
                json.dumps(options),
                row["status"],
                row["answer"],
                row["passed"],
                row["steps"],
                row["isolation"],
                STARTED_AT,
                STARTED_AT + 4.2,
                4.2,
            ),
        )
        for seq, event in enumerate(events, start=1):
            conn.execute(
                "INSERT INTO agent_events (run_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, event["type"], json.dumps(event), STARTED_AT + seq),
            )


def seed_verify_run() -> None:
    def execution(round_number: int, code: str, exit_code: int, stdout: str, stderr: str, passed: bool) -> dict:
        return {
            "type": "execution",
            "round": round_number,
            "exit_code": exit_code,
            "stdout": stdout,
            "stderr": stderr,
            "seconds": 0.05,
            "isolation": "bubblewrap",
            "limit": None,
            "checks": "passed" if passed else "not run",
            "check_message": "stdout is '1\\n4\\n9\\n16\\n25'" if passed else None,
            "passed": passed,
            "code": code,
        }

    first = "for i in range(5):\n    print(i ** 2)"
    second = "for i in range(1, 6):\n    print(i ** 2)"
    events = [
        {"type": "code", "round": 1, "code": first, "text": f"```python\n{first}\n```"},
        execution(1, first, 0, "0\n1\n4\n9\n16\n", "", False),
        {"type": "code", "round": 2, "code": second, "text": f"```python\n{second}\n```"},
        execution(2, second, 0, "1\n4\n9\n16\n25\n", "", True),
        {
            "type": "verdict",
            "passed": True,
            "status": "verified",
            "rounds": 2,
            "code": second,
            "checks": "expect",
            "isolation": "bubblewrap",
            "isolation_note": "bubblewrap: no network, read-only system dirs",
            "seconds": 4.2,
        },
    ]
    recorded_run(
        "v20260101-100000-3f2a9c",
        "verify",
        "Print the first 5 square numbers, one per line.",
        {"max_rounds": 3, "checks": {"expect": "1\n4\n9\n16\n25", "tests": None, "tests_file": None}},
        events,
        status="verified",
        passed=1,
        steps=2,
        isolation="bubblewrap",
    )


SFT_DATASET = "sample-chats.jsonl"  # the train form's dataset: the bundled SFT sample, copied into the session's folder
EVALS = [
    {"id": "capital", "prompt": "What is the capital of France? Answer in one word.", "contains": ["Paris"]},
    {"id": "colour", "prompt": "Name a primary colour.", "contains": ["red", "blue", "yellow", "Red", "Blue"]},
    {"id": "days", "prompt": "How many days are in a week? Answer with a number.", "regex": "7|seven"},
]
for _row in EVALS:
    _row["max_tokens"] = 24  # short answers: the shot takes seconds on a loaded machine
NOTES = {
    "export.md": "# Export\n\n`llmdeck export RUN --quant q4_k_m` turns a finished training run into GGUF quants"
    " in the model store; `llmdeck models modelfile` writes an Ollama Modelfile for one.\n",
    "serve.md": "# Serve\n\n`llmdeck serve` serves store models over an OpenAI-compatible HTTP API on port 8000;"
    " set LLMDECK_API_KEY to require a bearer key.\n",
    "train.md": "# Train\n\n`llmdeck train --dry-run` checks the data and prints the memory and time estimate"
    " without starting anything; `llmdeck runs resume` continues from the latest checkpoint.\n",
    "rag.md": "# RAG\n\n`llmdeck rag ingest` splits files into chunks and embeds them into a collection;"
    " `llmdeck chat --rag NAME` answers with citations.\n",
}
QUESTIONS = [
    {"question": "How do I turn a finished run into a quantized GGUF file?", "sources": ["export.md"]},
    {"question": "Can other programs talk to my models through an OpenAI-style API?", "sources": ["serve.md"]},
    {"question": "How much memory will training need before I start it?", "sources": ["train.md"]},
    {"question": "How do I get answers that cite my own documents?", "sources": ["rag.md"]},
]


def seed_collection() -> None:
    """The notes collection, ingested by the real command (its embedding model loads in that process)."""
    import subprocess

    notes = Path("notes")
    notes.mkdir(exist_ok=True)
    for name, body in NOTES.items():
        (notes / name).write_text(body, encoding="utf-8")
    Path("questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "llmdeck.cli", "rag", "ingest", "notes", "--collection", "notes"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def seed() -> None:
    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.core.settings import update_settings
    from llmdeck.core.store import ModelStore
    from llmdeck.tuning.data.prepare import bundled_sample

    update_settings(max_tokens=160, temperature=0.3)  # short answers: a shot in seconds, not minutes
    ModelStore().register(embedded_chat_model_path(), name="smollm2-copy")  # a second contender (arena, eval)
    shutil.copyfile(bundled_sample("sft"), SFT_DATASET)  # shown by a name of its own, not the install's path
    Path("evals.jsonl").write_text("".join(json.dumps(row) + "\n" for row in EVALS), encoding="utf-8")
    seed_training_run()
    seed_verify_run()


# -- main -----------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="Shots to take (default: all).")
    parser.add_argument("--out", type=Path, default=OUT, help="Folder for NAME.svg (default: docs/screenshots).")
    parser.add_argument("--list", action="store_true", help="Name the shots and stop.")
    parser.add_argument("--text", type=Path, help="Also write each screen as NAME.txt into this folder.")
    args = parser.parse_args(argv)
    if args.text:
        args.text.mkdir(parents=True, exist_ok=True)
        TEXT_DIR.append(args.text.resolve())
    if args.list:
        print("\n".join(SHOTS))
        return 0
    unknown = [name for name in args.names if name not in SHOTS]
    if unknown:
        print(f"screenshots: no shot named {', '.join(unknown)} (expected: {', '.join(SHOTS)})", file=sys.stderr)
        return 2
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmdeck-screenshots-") as home:
        os.environ["LLMDECK_HOME"] = str(Path(home) / "home")
        os.environ["TZ"] = "UTC"
        time.tzset()
        work = Path(home) / "work"  # relative paths on screen: the session's files, not this machine's
        work.mkdir()
        os.chdir(work)
        seed()
        for name in args.names or list(SHOTS):
            started = time.monotonic()
            asyncio.run(take(name, out_dir))
            print(f"screenshots: {name} took {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
