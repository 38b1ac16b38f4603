"""Snapshot tests (pytest-textual-snapshot) of the main layouts, on the scripted fake model.

Snapshots depend on Textual's rendering: they were recorded with the Textual version pinned in pyproject's
`dev` extra. Update them after a deliberate layout change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import json
import time

import pytest

from llmdeck.tui.app import LlmdeckApp
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.registry import Registry

SIZE = (120, 34)


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
        await pilot.pause()

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
        await pilot.pause()

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

    assert snap_compare(LlmdeckApp(), terminal_size=(140, 44), run_before=run_before)
