"""Snapshot tests (pytest-textual-snapshot) of the main layouts, on the scripted fake model.

Snapshots depend on Textual's rendering: they were recorded with the Textual version pinned in pyproject's
`dev` extra. Update them after a deliberate layout change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from textual.widgets import Select

from llmdeck.tui.app import LlmdeckApp
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.registry import Registry

SIZE = (120, 34)
STARTED_AT = 1767261600.0  # 2026-01-01 10:00 UTC: past runs show a fixed start time


@pytest.fixture
def utc(monkeypatch):
    """Start times render in UTC, so the snapshots do not depend on the machine's time zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def recorded_run(run_id: str, kind: str, prompt: str, options: dict, events: list[dict], status: str, steps: int,
                 answer: str | None = None, passed: bool | None = None, isolation: str | None = None) -> None:
    """A finished agent/verify run as `agents.records` stores it, with fixed ids and times."""
    from llmdeck.agents import records
    from llmdeck.core import db

    with db.transaction(records._connect()) as conn:
        conn.execute("INSERT INTO agent_runs (id, kind, prompt, model, options, status, answer, passed, steps, isolation,"
                     " started_at, finished_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (run_id, kind, prompt, "smollm2-135m-instruct", json.dumps(options), status, answer,
                      None if passed is None else int(passed), steps, isolation, STARTED_AT, STARTED_AT + 2.5, 2.5))
        for seq, event in enumerate(events, start=1):
            conn.execute("INSERT INTO agent_events (run_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                         (run_id, seq, event["type"], json.dumps(event), STARTED_AT + seq))


async def reopen_first_run(pilot, table_id: str, rendered) -> None:
    screen = pilot.app.screen
    table = screen.query_one(table_id)
    await settled(pilot, lambda: table.row_count == 1 and screen.query_one("Select").value != Select.NULL)
    table.focus()
    await pilot.press("enter")
    await settled(pilot, rendered)
    await steady(pilot)


async def steady(pilot) -> None:
    """Stop cursors blinking (hidden): a shot taken half a second later would otherwise differ."""
    for widget in pilot.app.screen.query("*"):
        if getattr(widget, "cursor_blink", None):
            widget.cursor_blink = False
    await pilot.pause()


async def settled(pilot, predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.05)


def test_chat_screen_after_one_answer(snap_compare, fake_model):
    fake_model.enqueue("Two plus two is **four**:\n\n```python\nprint(2 + 2)\n```")

    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await settled(pilot, lambda: screen.model_name is not None)
        screen.query_one("#prompt").value = "2+2?"
        await pilot.click("#prompt")
        await pilot.press("enter")
        await settled(pilot, lambda: not screen.busy and "tok/s" in str(screen.query_one("#chat-status").render()))
        await settled(pilot, lambda: "2 messages" in str(screen.query_one("SessionItem Label").render()))
        # timings vary run to run: show the model and token count only
        screen.query_one("#chat-status").update("model: smollm2-135m-instruct - 19 tokens, context 40/2048 (2%)")
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)


def test_models_screen(snap_compare, fake_model):
    async def run_before(pilot) -> None:
        await pilot.press("f2")
        screen = pilot.app.screen
        table = screen.query_one("#models-table")
        await settled(pilot, lambda: table.row_count == 1 and "smollm2" in str(screen.query_one("#model-meta").render()))
        # the file's path is this machine's: show the rest
        meta = str(screen.query_one("#model-meta").render()).splitlines()
        screen.query_one("#model-meta").update("\n".join(line for line in meta if not line.startswith("file")))
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)


@pytest.mark.slow  # the train screen takes a few seconds to lay out on a loaded 2-core machine
def test_train_screen_monitor(snap_compare, fake_model):
    registry = Registry()
    run = registry.create("demo-run", "sft", "smollm2-135m-instruct", "sample", TrainConfig(max_steps=20).model_dump(),
                          "local")
    registry.conn.execute("UPDATE runs SET id = 'run-1', status = 'completed', global_step = 20, max_steps = 20,"
                          " last_metrics_json = ? WHERE id = ?", (json.dumps({"loss": 1.2, "step": 20}), run.id))
    rows = [{"step": s, "loss": 2.5 * 0.95**s + 0.05 * (s % 3), "learning_rate": 2e-4 * (1 - s / 20),
             "grad_norm": 1.5 - s / 40, "tokens_per_s": 150.0, "elapsed_s": 3.0 * s, "peak_rss_bytes": 1536 * 2**20,
             "max_steps": 20} for s in range(1, 21)]
    rows[9]["eval_loss"], rows[19]["eval_loss"] = 1.9, 1.5
    (run.path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run.path / "train.log").write_text("llmdeck worker: run started\nllmdeck worker: run completed\n")

    async def run_before(pilot) -> None:
        await pilot.press("f3")
        screen = pilot.app.screen
        await settled(pilot, lambda: len(screen.metrics_rows) == 20 and screen.query_one("#monitor-log").lines)
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=(140, 44), run_before=run_before)


@pytest.mark.slow  # seconds of layout on a loaded 2-core machine: the fast tier keeps the chat and models shots
def test_agents_screen_with_a_reopened_trace(snap_compare, fake_model, utc):
    events = [
        {"type": "thought", "step": 1, "text": "I should multiply."},
        {"type": "tool_call", "step": 1, "name": "calculator", "args": {"expression": "17 * 23"}, "id": "c1",
         "text": "Action: calculator"},
        {"type": "observation", "step": 1, "name": "calculator", "content": "391", "error": False},
        {"type": "thought", "step": 2, "text": "I have the answer."},
        {"type": "final", "answer": "17 * 23 = 391", "steps": 2, "limit": None, "seconds": 2.5, "text": "..."},
    ]
    recorded_run("a-demo", "agent", "What is 17 * 23?", {"tools": ["calculator"], "max_steps": 6, "thoughts": True},
                 events, "answered", 2, answer="17 * 23 = 391")

    async def run_before(pilot) -> None:
        await pilot.press("f4")
        screen = pilot.app.screen
        await reopen_first_run(pilot, "#agent-runs", lambda: len(screen.query_one("#agent-trace").blocks()) == 6)

    assert snap_compare(LlmdeckApp(), terminal_size=(130, 40), run_before=run_before)


@pytest.mark.slow  # as above
def test_verify_screen_with_reopened_rounds_and_verdict(snap_compare, fake_model, utc):
    def execution(round_number: int, code: str, exit_code: int, stdout: str, stderr: str, passed: bool) -> dict:
        return {"type": "execution", "round": round_number, "exit_code": exit_code, "stdout": stdout, "stderr": stderr,
                "seconds": 0.04, "isolation": "bubblewrap", "limit": None, "checks": "passed" if passed else "not run",
                "check_message": "stdout is '1\\n2\\n3'" if passed else None, "passed": passed, "code": code}

    first, second = "print(1 / 0)", "for i in range(1, 4):\n    print(i)"
    events = [
        {"type": "code", "round": 1, "code": first, "text": f"```python\n{first}\n```"},
        execution(1, first, 1, "", "Traceback (most recent call last):\n  File \"solution.py\", line 1, in <module>\n"
                                   "ZeroDivisionError: division by zero\n", False),
        {"type": "code", "round": 2, "code": second, "text": f"```python\n{second}\n```"},
        execution(2, second, 0, "1\n2\n3\n", "", True),
        {"type": "verdict", "passed": True, "status": "verified", "rounds": 2, "code": second, "checks": "expect",
         "isolation": "bubblewrap", "isolation_note": "bubblewrap: no network, read-only system dirs", "seconds": 2.5},
    ]
    recorded_run("v-demo", "verify", "Print 1 to 3, one per line.",
                 {"max_rounds": 3, "checks": {"expect": "1\n2\n3", "tests": None, "tests_file": None}}, events,
                 "verified", 2, passed=True, isolation="bubblewrap")

    async def run_before(pilot) -> None:
        await pilot.press("f5")
        screen = pilot.app.screen
        await reopen_first_run(pilot, "#verify-runs", lambda: screen.query_one("#verify-rounds").query(".verdict"))

    assert snap_compare(LlmdeckApp(), terminal_size=(130, 46), run_before=run_before)
