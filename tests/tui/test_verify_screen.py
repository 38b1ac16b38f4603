"""The verify screen with the Pilot: a scripted writer fails then fixes its code; each round shows its code
(syntax highlighted) beside its execution output, then the verdict with the sandbox tier; past runs reopen.
A tests file picked with the file picker checks the code; the embedded SmolLM2 gets a verdict (slow)."""

from __future__ import annotations

import asyncio
import time

import pytest
from rich.syntax import Syntax
from textual.widgets import Select

from llmdeck.agents import records
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.tui.app import LlmdeckApp
from tests.tui.helpers import past_run_refused_while_busy, text_of, wait_for

SIZE = (130, 46)
TIERS = ("bubblewrap", "namespaces", "process")


async def open_verify(pilot):
    await pilot.press("f5")
    screen = pilot.app.screen
    await wait_for(
        pilot, lambda: screen.query_one("#verify-model").value == EMBEDDED_CHAT_MODEL_NAME, what="the verify form"
    )
    return screen


async def run(pilot, screen, task: str, expect: str = "", tests: str = "", timeout_s: float = 30) -> None:
    screen.query_one("#verify-task").text = task
    screen.query_one("#verify-expect").text = expect
    screen.query_one("#verify-tests").value = tests
    await pilot.press("ctrl+r")
    await wait_for(
        pilot, lambda: screen.run_id is not None and not screen.busy, timeout_s=timeout_s, what="the verdict"
    )


def rounds_shown(screen) -> list[tuple[str, str]]:
    return [
        (round_view.code, text_of(round_view.query_one(".round-output")))
        for round_view in screen.query_one("#verify-rounds").rounds()
    ]


def verdict_shown(screen) -> str:
    verdicts = screen.query_one("#verify-rounds").query(".verdict")
    return text_of(verdicts.last()) if verdicts else ""


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_a_failing_round_then_a_fixed_one_then_the_verdict(fake_model):
    fake_model.enqueue("```python\nprint(1 / 0)\n```", "```python\nfor i in range(1, 4):\n    print(i)\n```")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_verify(pilot)
        screen.query_one("#verify-model").value = Select.NULL  # the store default: the status names it
        await run(pilot, screen, "Print 1 to 3, one per line.", expect="1\n2\n3")
        (first_code, first_output), (second_code, second_output) = rounds_shown(screen)
        assert first_code == "print(1 / 0)" and second_code == "for i in range(1, 4):\n    print(i)"
        code_widget = screen.query_one("#verify-rounds").rounds()[0].query_one(".round-code")
        assert isinstance(code_widget.content, Syntax) and code_widget.content.lexer.name == "Python"
        assert first_output.startswith("exit code 1") and "ZeroDivisionError" in first_output
        assert second_output.startswith("exit code 0") and "stdout:\n1\n2\n3" in second_output
        assert "check: passed" in second_output
        verdict = verdict_shown(screen)
        assert verdict.startswith("Verdict: verified after 2 rounds")
        tier = records.get_run(screen.run_id, "verify").isolation
        assert tier in TIERS and f"isolation: {tier}" in verdict and f"sandbox: {tier}" in second_output
        status = text_of(screen.query_one("#verify-status"))
        assert status.startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME} - run ") and "verified after 2 round(s)" in status
        # the past runs list it; Enter reopens the rounds and the verdict and fills the form
        history = screen.query_one("#verify-runs")
        await wait_for(pilot, lambda: history.row_count == 1 and history.get_row_at(0)[1:3] == ["verified", "2"])
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not rounds_shown(screen) and not screen.query_one("#verify-task").text)
        history.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(rounds_shown(screen)) == 2 and verdict_shown(screen), what="the reopened run")
        assert verdict_shown(screen) == verdict and rounds_shown(screen)[1][0] == second_code
        assert screen.query_one("#verify-task").text == "Print 1 to 3, one per line."
        assert screen.query_one("#verify-expect").text == "1\n2\n3"
        await past_run_refused_while_busy(pilot, screen, history, "#verify-task", "text", "a verification is running")


@pytest.mark.slow  # the file picker, a tests file, two runs in the sandbox
async def test_a_tests_file_from_the_picker_checks_the_code(fake_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tests = tmp_path / "test_add.py"
    tests.write_text("assert add(2, 3) == 5\n")
    fake_model.enqueue("```python\ndef add(a, b):\n    return a - b\n```", "I give up.")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_verify(pilot)
        screen.query_one("#verify-task").text = "Define add(a, b)."
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "FilePickerScreen")
        app.screen.query_one("#picker-path").value = str(tests)
        await pilot.click("#picker-path")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.query_one("#verify-tests").value == str(tests))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.run_id is not None and not screen.busy, timeout_s=30)
        [(_, output)] = rounds_shown(screen)
        assert "check: failed" in output and "AssertionError" in output
        assert "writer: I give up." in [text_of(m) for m in screen.query_one("#verify-rounds").query(".message")]
        assert verdict_shown(screen).startswith("Verdict: gave up after 1 round")
        assert records.get_run(screen.run_id, "verify").options["checks"]["tests_file"] == str(tests)


@pytest.mark.slow  # the embedded SmolLM2 writes the code
async def test_smollm2_writes_code_that_runs_and_gets_a_verdict():
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_verify(pilot)
        screen.query_one("#verify-max-rounds").value = "2"
        await run(pilot, screen, "Print the numbers 1 to 3, one per line.", expect="1\n2\n3", timeout_s=300)
        shown = rounds_shown(screen)
        assert 1 <= len(shown) <= 2 and all(code.strip() for code, _ in shown)
        assert all(output.startswith("exit code") for _, output in shown)  # every round ran in the sandbox
        stored = records.get_run(screen.run_id, "verify")
        assert stored.status in ("verified", "failed", "gave_up")  # assert the structure, not the model's skill
        assert verdict_shown(screen).startswith(f"Verdict: {stored.status.replace('gave_up', 'gave up')} after")
        # Esc as soon as a longer run starts (6 rounds of a task the model fails): stopped, recorded as cancelled
        first_run = screen.run_id
        screen.query_one("#verify-max-rounds").value = "6"
        screen.query_one("#verify-task").text = "Print the 10th prime number, then the word done on its own line."
        screen.query_one("#verify-expect").text = "29\ndone\nand more"  # never printed: no verdict before round 6
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.run_id not in (None, first_run), timeout_s=60, what="the second run")
        await pilot.press("escape")  # the writer's generation ends at its next token (or after the prompt's)
        await wait_for(pilot, lambda: not screen.busy, timeout_s=20, what="the stop")
        assert records.get_run(screen.run_id, "verify").status == "cancelled"
        assert "stopped" in text_of(screen.query_one("#verify-status")) and not verdict_shown(screen)
        # quitting while the writer writes: the run ends with the app, recorded as cancelled
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: (
                screen.busy
                and screen.run_id not in (None, first_run)
                and "writing" in text_of(screen.query_one("#verify-status"))
            ),
            timeout_s=60,
            what="the third run",
        )
        third_run = screen.run_id
        await asyncio.sleep(2)
        await pilot.press("ctrl+q")
    deadline = time.monotonic() + 20
    while records.get_run(third_run, "verify").status == "running" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert records.get_run(third_run, "verify").status == "cancelled"
