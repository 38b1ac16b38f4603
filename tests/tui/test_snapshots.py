"""Snapshot tests (pytest-textual-snapshot) of the main layouts, on the scripted fake model.

Snapshots depend on Textual's rendering: they were recorded with the Textual version pinned in pyproject's
`dev` extra. Update them after a deliberate layout change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import time

from llmdeck.tui.app import LlmdeckApp

SIZE = (100, 28)


async def settled(pilot, predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.05)


def test_chat_screen_after_one_answer(snap_compare, fake_model):
    fake_model.enqueue("Two plus two is four.")

    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await settled(pilot, lambda: screen.model_name is not None)
        await pilot.click("#prompt")
        await pilot.press(*"2+2?", "enter")
        await settled(pilot, lambda: not screen.busy and "tok/s" in str(screen.query_one("#chat-status").render()))
        # timings vary run to run: show the model and token count only
        screen.query_one("#chat-status").update("model: smollm2-135m-instruct - 7 tokens")

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)


def test_models_screen(snap_compare, fake_model):
    async def run_before(pilot) -> None:
        await pilot.press("f2")
        table = pilot.app.screen.query_one("#models-table")
        await settled(pilot, lambda: table.row_count == 1)

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)
