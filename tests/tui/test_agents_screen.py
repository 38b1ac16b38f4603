"""The agents screen with the Pilot: the trace of a scripted run renders as it streams (thought, tool call
with its arguments, observation, answer), the run is recorded and reopens from the past runs; on the embedded
SmolLM2 a real run ends with an answer, Esc stops a run at the model's next token, and so does quitting (slow)."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import Select

from llmdeck.agents import records
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.tui.app import LlmdeckApp
from tests.tui.helpers import past_run_refused_while_busy, text_of, wait_for

SIZE = (130, 40)


async def open_agents(pilot):
    await pilot.press("f4")
    screen = pilot.app.screen
    await wait_for(
        pilot,
        lambda: (
            screen.query_one("#agent-tools").option_count > 0
            and screen.query_one("#agent-model").value == EMBEDDED_CHAT_MODEL_NAME
        ),
        what="the agent form",
    )
    return screen


def choose_tools(screen, *names: str) -> None:
    tools = screen.query_one("#agent-tools")
    tools.deselect_all()
    for name in names:
        tools.select(name)


async def ask(pilot, screen, question: str, timeout_s: float = 20) -> None:
    screen.query_one("#agent-question").value = question
    await pilot.click("#agent-question")
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.run_id is not None and not screen.busy, timeout_s=timeout_s, what="the run")


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_a_scripted_run_streams_its_trace_and_reopens_from_the_past_runs(fake_model):
    fake_model.enqueue(
        " Multiply them.\n",
        " calculator\n",
        ' {"expression": "17 * 23"}',
        " I have it.\n",
        " final_answer\n",
        ' {"answer": "391"}',
    )
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agents(pilot)
        tools = screen.query_one("#agent-tools")
        assert set(tools.selected) == {"calculator", "files", "datetime", "python"}  # the registry's defaults
        assert tools.option_count >= 6  # every tool, rag_search and http_get off
        choose_tools(screen, "calculator")
        screen.query_one("#agent-thoughts").value = True
        screen.query_one("#agent-model").value = Select.NULL  # the store default: the status names it
        await ask(pilot, screen, "What is 17 * 23?")
        trace = screen.query_one("#agent-trace")
        assert trace.blocks() == [
            ("question", "Q: What is 17 * 23?"),
            ("thought", "[1] thought: Multiply them."),
            ("call", '[1] calculator({"expression": "17 * 23"})'),
            ("observation", "[1] result: 391"),
            ("thought", "[2] thought: I have it."),
            ("final", "Answer: 391"),
        ]
        status = text_of(screen.query_one("#agent-status"))
        assert f"model: {EMBEDDED_CHAT_MODEL_NAME}" in status and "answered in 2 steps" in status
        stored = records.get_run(screen.run_id, "agent")
        assert stored.status == "answered" and stored.options["tools"] == ["calculator"] and stored.options["thoughts"]
        # the past runs list it; Enter reopens its trace and fills the form
        history = screen.query_one("#agent-runs")
        row = ["answered", "2", EMBEDDED_CHAT_MODEL_NAME, "What is 17 * 23?"]
        await wait_for(pilot, lambda: history.row_count == 1 and history.get_row_at(0)[1:] == row)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: trace.blocks() == [])
        choose_tools(screen, "files")
        history.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(trace.blocks()) == 6, what="the reopened trace")
        assert trace.blocks()[2] == ("call", '[1] calculator({"expression": "17 * 23"})')
        assert screen.query_one("#agent-question").value == "What is 17 * 23?"
        assert list(screen.query_one("#agent-tools").selected) == ["calculator"]
        await past_run_refused_while_busy(pilot, screen, history, "#agent-question", "value", "the agent is working")
        # bad input is a notification naming the field, and nothing is recorded
        screen.query_one("#agent-max-steps").value = "0"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("max_steps" in n.message for n in app._notifications))
        assert not screen.busy and len(records.list_runs("agent")) == 1


@pytest.mark.slow  # the embedded SmolLM2 decodes each step
async def test_smollm2_answers_and_escape_stops_a_run():
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agents(pilot)
        choose_tools(screen, "calculator")
        await ask(pilot, screen, "What is 2 + 2?", timeout_s=180)  # minutes on a loaded 2-core machine
        kinds = [kind for kind, _ in screen.query_one("#agent-trace").blocks()]
        assert kinds[0] == "question" and kinds[-1].startswith("final")  # whatever it chose, it ended with an answer
        assert records.get_run(screen.run_id).status in ("answered", "limit")
        # Esc before the first step is decoded: the run stops at the next token, recorded as cancelled
        screen.query_one("#agent-max-steps").value = "8"
        screen.query_one("#agent-thoughts").value = True  # every step then starts with a thought event
        screen.query_one("#agent-question").value = "Work out 12 * 12, then 13 * 13, then add them."
        first_run = screen.run_id
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.run_id not in (None, first_run), timeout_s=60, what="the second run")
        await pilot.press("escape")  # at once (a cached prompt may already have given a step or two)
        await wait_for(pilot, lambda: not screen.busy, timeout_s=60, what="the stop")
        stored = records.get_run(screen.run_id)
        assert stored.status == "cancelled" and stored.answer is None
        assert "stopped" in text_of(screen.query_one("#agent-status"))
        blocks = screen.query_one("#agent-trace").blocks()
        assert blocks[-1] == ("note", "stopped") and not [kind for kind, _ in blocks if kind.startswith("final")]
        # quitting during a run ends it with the app (a worker left decoding would keep the process alive)
        second_run = screen.run_id
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.run_id not in (None, second_run), timeout_s=60, what="the third run")
        third_run = screen.run_id
        await pilot.press("ctrl+q")
    deadline = time.monotonic() + 60  # the prompt's evaluation is one llama.cpp call: it is not interrupted
    while records.get_run(third_run).status == "running" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # never left "running"; cancelled unless the (cached, fast) run had answered by the time ctrl+q was pressed
    stored = records.get_run(third_run)
    assert stored.status == "cancelled" or (stored.status == "answered" and stored.answer), stored.status
