"""The ReAct loop (LangChain create_agent + our middleware) driven by LangChain's scripted chat model:
success, tool error, invalid arguments, unknown tool, repeated call, step and time limits, a failing model,
cancellation; every run recorded and exportable as training data."""

from __future__ import annotations

import json

import pytest

from llmdeck.agents import records
from llmdeck.agents.react import AgentOptions
from llmdeck.services.agent import ask
from tests.agents.conftest import AGENT_EVENT_FIELDS, answer, call, schema_problems, scripted_chat_model

COUNTING_TOOL = '''
from pathlib import Path
from langchain_core.tools import tool

@tool
def bump(counter: str) -> str:
    """Add one to a counter file and return the new count."""
    path = Path(counter)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return str(count)
'''


def run(question, *messages, **kwargs):
    kwargs.setdefault("tools", ["calculator", "files"])
    response = ask(question, chat_model=scripted_chat_model(*messages), **kwargs)
    events = [event.to_json() for event in response]  # the JSON forms: what --json prints and the records store
    for event in events:
        assert schema_problems(event, AGENT_EVENT_FIELDS) == []
    return response, events


def brief(events):
    return [(e["type"], e.get("name") or e.get("answer") or e.get("text")) for e in events]


def test_a_tool_call_then_an_answer(workspace):
    response, events = run(
        "How many pears?",
        call("files", {"operation": "read", "path": "inventory.txt"}, thought="Look it up."),
        answer("7 pears"),
        workspace=workspace,
    )
    assert brief(events) == [
        ("thought", "Look it up."),
        ("tool_call", "files"),
        ("observation", "files"),
        ("final", "7 pears"),
    ]
    assert events[2]["content"] == "apples: 12\npears: 7\n" and events[2]["error"] is False
    assert events[1]["args"] == {"operation": "read", "path": "inventory.txt"}
    assert events[-1]["limit"] is None and events[-1]["steps"] == 2
    stored = records.get_run(response.run_id)
    assert stored.status == "answered" and stored.answer == "7 pears" and stored.steps == 2
    assert [e.to_json() for e in stored.events] == events
    assert stored.options["tools"] == ["calculator", "files"]


def test_a_failing_tool_becomes_an_observation():
    _, events = run("1/0?", call("calculator", {"expression": "1 / 0"}), answer("undefined"))
    observation = events[1]
    assert observation["error"] is True
    assert observation["content"].startswith("Error: calculator failed: CalculatorError: ZeroDivisionError")
    assert events[-1]["answer"] == "undefined"


def test_invalid_arguments_are_refused_before_the_tool_runs():
    _, events = run(
        "2+2?", call("calculator", {"expr": "2+2"}), call("calculator", {"expression": 4}, "c2"), answer("4")
    )
    first, second = events[1], events[3]
    assert first["error"] and "invalid arguments for calculator" in first["content"]
    assert "'expression' is a required property" in first["content"]
    assert second["error"] and "4 is not of type 'string'" in second["content"]


def test_an_unknown_tool_is_an_observation():
    _, events = run("?", call("teleport", {"to": "mars"}), answer("cannot"))
    assert events[1]["error"] and "no tool named 'teleport'" in events[1]["content"]


def test_the_same_call_twice_in_a_row_is_refused_and_not_run_again(tmp_path):
    tools_file = tmp_path / "counting.py"
    tools_file.write_text(COUNTING_TOOL)
    counter = str(tmp_path / "count.txt")
    bump = call("bump", {"counter": counter})
    _, events = run(
        "count",
        bump,
        call("bump", {"counter": counter}, "c2"),
        answer("done"),
        tools=["bump"],
        tools_files=(tools_file,),
    )
    observations = [e for e in events if e["type"] == "observation"]
    assert observations[0]["content"] == "1" and not observations[0]["error"]
    assert observations[1]["error"] and observations[1]["content"].startswith("Refused: you just called bump")
    assert (tmp_path / "count.txt").read_text() == "1"


def test_the_step_limit_forces_the_best_answer_so_far():
    looping = [call("calculator", {"expression": f"{n} + 1"}, f"c{n}") for n in range(10)]
    response, events = run("loop", *looping, options=AgentOptions(max_steps=3))
    assert [e["type"] for e in events].count("tool_call") == 2
    final = events[-1]
    assert final["limit"] == "max_steps" and final["steps"] == 3
    assert final["answer"] == "2"  # the last observation: 1 + 1
    assert records.get_run(response.run_id).status == "limit"


def test_the_time_limit_ends_with_an_answer():
    _, events = run("slow", answer("out of time"), options=AgentOptions(max_seconds=1e-9))
    assert [(e["type"], e["answer"], e["limit"]) for e in events] == [("final", "out of time", "wall_time")]


def test_a_model_that_ignores_the_limit_still_ends_with_a_marked_answer():
    _, events = run("slow", call("calculator", {"expression": "1"}), options=AgentOptions(max_seconds=1e-9))
    assert [(e["type"], e["answer"], e["limit"]) for e in events] == [
        ("final", "(no answer found within the limits)", "wall_time")
    ]


def test_a_failing_model_still_ends_with_a_final_event():
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    class Broken(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

        def _generate(self, *args, **kwargs):
            raise RuntimeError("the model fell over")

    response = ask("?", chat_model=Broken(messages=iter([])), tools=["calculator"])
    events = [event.to_json() for event in response]
    assert [e["type"] for e in events] == ["error", "final"]
    assert "the model fell over" in events[0]["message"]
    assert events[-1]["limit"] == "error"
    assert records.get_run(response.run_id).status == "error"


def test_closing_a_run_records_it_as_cancelled():
    response = ask(
        "?", chat_model=scripted_chat_model(call("calculator", {"expression": "1"}), answer("1")), tools=["calculator"]
    )
    iterator = iter(response)
    next(iterator)
    response.close()
    assert response.cancelled and records.get_run(response.run_id).status == "cancelled"


def test_an_empty_question_is_refused_before_anything_is_recorded():
    from llmdeck.core.errors import BadInput

    with pytest.raises(BadInput, match="question is empty"):
        ask("  ", chat_model=scripted_chat_model())
    assert records.list_runs("agent") == []


def test_answered_traces_export_as_a_training_dataset(tmp_path, workspace):
    from llmdeck.tuning.data import prepare

    run(
        "How many pears?",
        call("files", {"operation": "read", "path": "inventory.txt"}),
        answer("7"),
        workspace=workspace,
    )
    run(
        "loop",
        *[call("calculator", {"expression": str(n)}, f"c{n}") for n in range(5)],
        options=AgentOptions(max_steps=2),
    )
    rows = records.agent_trace_rows()
    assert len(rows) == 1  # the limited run is left out
    messages = rows[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[2]["tool_calls"][0]["function"] == {
        "name": "files",
        "arguments": json.dumps({"operation": "read", "path": "inventory.txt"}),
    }
    assert messages[2]["content"].startswith("Action: files\nAction Input:")
    assert messages[3]["content"] == "Result: apples: 12\npears: 7\n"
    assert messages[4]["content"] == 'Action: final_answer\nAction Input: {"answer": "7"}'
    output = tmp_path / "traces.jsonl"
    assert records.write_jsonl(rows, output) == 1
    prepared = prepare(output)
    assert prepared.report.format == "messages" and prepared.report.valid == 1
    assert len(records.agent_trace_rows(include_limited=True)) == 2
