"""The loop screen with the Pilot, on the scripted fake model with training and export replaced by the loop tests'
stand-ins (the slow tier runs a real loop through the CLI): `o` on the Train screen opens it, a loop started from
the form runs every stage and fills the rounds table, it is listed with its status, Esc stops a running loop after
its current step (recorded as stopped), a bad form value is refused in one line without a loop being made, and a
gated loop's rounds are drawn as a chart per metric with the current model named."""

from __future__ import annotations

import asyncio
import threading

import pytest

from llmdeck.agents import run_datasets
from llmdeck.services.loop import list_loops, load_state
from llmdeck.tui.app import LlmdeckApp
from tests.services.test_loop_fast import MODEL, code_tasks, program, stand_ins  # noqa: F401 - fixtures
from tests.services.test_loop_gate import passes, scores  # noqa: F401 - fixtures
from tests.tui.helpers import text_of, wait_for

SIZE = (150, 45)


def cell_texts(table) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def open_loops(pilot):
    await pilot.press("f3")
    await pilot.press("o")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: type(screen).__name__ == "LoopScreen", what="the loop screen")
    return screen


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_a_loop_started_from_the_app_runs_and_fills_the_rounds_table(fake_model, code_tasks, stand_ins):  # noqa: F811
    fake_model.default_reply = program("print(0)")  # c0 passes, c1 fails
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_loops(pilot)
        screen.query_one("#loop-name").value = "from-app"
        screen.query_one("#loop-tasks").value = str(code_tasks)
        screen.query_one("#loop-samples").value = "2"
        screen.query_one("#loop-humaneval-limit").value = "3"
        screen.query_one("#loop-workers").value = "1"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: screen.running is None and "completed" in text_of(screen.query_one("#loop-status")),
            timeout_s=60,
            what=lambda: f"the loop ({text_of(screen.query_one('#loop-status'))})",
        )
        rounds = screen.query_one("#loop-rounds-table")
        columns = [str(c.label) for c in rounds.columns.values()]
        assert columns[:4] == ["round", "collected_by", "agent_pass", "verify_pass"]
        (row,) = cell_texts(rounds)
        assert row[columns.index("verify_pass")] == "2/4 (0.50)" and row[columns.index("sft_rows")] == "1"
        assert row[columns.index("model")] == "from-app-r1-sft.q8_0"  # the round's export
        log = "\n".join(screen.query_one("#loop-log").lines)
        assert "[round 1] collect-verify: done (attempts 4, passed 2, pass_rate 0.5" in log
        assert "[round 1] sft: done" in log and "loop from-app completed" in log
        await wait_for(pilot, lambda: screen.query_one("#loop-list").row_count == 1, what="the loops list")
        assert cell_texts(screen.query_one("#loop-list"))[0][:3] == ["from-app", "completed", "1"]
        trained = [c[:3] for c in stand_ins if c[0] in ("train", "export")]
        assert trained == [("train", 1, "sft"), ("export", 1, "export-sft")]
        assert ("humaneval", MODEL, 3) in stand_ins  # evaluated (the form's default) with the form's HumanEval limit
        await pilot.press("escape")  # nothing running: back to the train screen
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="the train screen")
    state = load_state("from-app")
    assert state.status == "completed" and state.config["workers"] == 1  # the form's workers reached the loop


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_esc_stops_a_running_loop_after_its_step_and_a_bad_value_is_refused(
    fake_model,
    code_tasks,  # noqa: F811
    stand_ins,  # noqa: F811
    monkeypatch,
):
    entered, release = threading.Event(), threading.Event()
    build = run_datasets.build

    def slow_build(*args, **kwargs):  # the data stage waits until the test has pressed Esc
        entered.set()
        release.wait(30)
        return build(*args, **kwargs)

    monkeypatch.setattr(run_datasets, "build", slow_build)
    fake_model.default_reply = program("print(0)")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_loops(pilot)
        screen.query_one("#loop-rounds").value = "0"  # refused by the loop's config, nothing created
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "failed" in text_of(screen.query_one("#loop-status")), what="the refusal")
        assert "rounds" in text_of(screen.query_one("#loop-status")) and list_loops() == []
        screen.query_one("#loop-rounds").value = "2"
        screen.query_one("#loop-name").value = "stopped-one"
        screen.query_one("#loop-tasks").value = str(code_tasks)
        screen.query_one("#loop-samples").value = "1"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: entered.is_set(), timeout_s=60, what="the data stage")
        await pilot.press("escape")
        assert "stopping" in text_of(screen.query_one("#loop-status"))
        release.set()
        await wait_for(pilot, lambda: screen.running is None, timeout_s=30, what="the stop")
        assert "stopped" in text_of(screen.query_one("#loop-status"))
        assert type(app.screen).__name__ == "LoopScreen"  # Esc stopped the loop; it did not close the screen
    state = load_state("stopped-one")
    assert state.status == "stopped" and len(state.rounds) == 1
    stages = state.rounds[0]["stages"]
    assert stages["data"]["status"] == "done" and stages.get("sft", {}).get("status", "pending") == "pending"


@pytest.mark.slow  # end to end through the app: seconds
async def test_a_gated_loop_is_charted_per_metric_with_its_current_model(fake_model, code_tasks, stand_ins, scores):  # noqa: F811
    from llmdeck.services.loop import run_loop

    fake_model.default_reply = program("print(0)")
    scores.update({MODEL: passes(0), "chart-r1-sft.q8_0": passes(15), "chart-r2-sft.q8_0": passes(15)})
    config = {"name": "chart", "tasks": [str(code_tasks)], "rounds": 2, "samples": 1, "max_rounds": 1}
    await asyncio.to_thread(lambda: list(run_loop(config)))  # the verify pair runs an event loop of its own
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_loops(pilot)
        await wait_for(pilot, lambda: len(screen.curve) == 3, what="the loop's curve (base and two rounds)")
        current = text_of(screen.query_one("#loop-current"))
        assert current.startswith("current model: chart-r1-sft.q8_0 (round 1 accepted: held-out score +0.750")
        assert [row["gate"] for row in screen.curve] == [None, "accepted", "rejected"]
        drawn = screen.curves_drawn
        screen.query_one("#loop-metric").value = "humaneval pass@1"
        await wait_for(pilot, lambda: screen.curves_drawn > drawn, what="the HumanEval chart")
        rounds = screen.query_one("#loop-rounds-table")
        columns = [str(c.label) for c in rounds.columns.values()]
        assert "gate" in columns
