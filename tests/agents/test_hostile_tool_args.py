"""Agent tools given hostile arguments (issue 21): path traversal, huge numbers, deep JSON, special files. Each is
a tool error the agent sees as its next observation, never a hang, a crash or a read outside the workspace."""

from __future__ import annotations

import json
import os
import threading

import pytest

from llmdeck.agents.calculator import CalculatorError, calculate
from llmdeck.agents.decoding import FINAL_ANSWER, ToolSpec, final_answer_spec, parse_step
from llmdeck.agents.tools import ToolCatalog, ToolSettings
from llmdeck.services.agent import ask

CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate arithmetic.",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
)


@pytest.mark.parametrize(
    "expression", ["10**10**10", "9**9**9**9", "2**-10**10", "(10**999)*(10**999)", "1e308*10", "factorial(10**100)"]
)
def test_huge_numbers_are_refused_at_once(expression):
    with pytest.raises(CalculatorError, match="too large|up to 500"):
        calculate(expression)


@pytest.fixture
def files_tool(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n")
    (tmp_path / "secret.txt").write_text("secret outside\n")
    os.mkfifo(root / "pipe.txt")  # no writer: opening it would block forever
    (root / "loop").symlink_to(root / "loop")
    (root / "out").symlink_to(tmp_path / "secret.txt")
    return ToolCatalog(settings=ToolSettings(workspace=root)).build(["files"])[0]


@pytest.mark.parametrize(
    "args, problem",
    [
        ({"operation": "read", "path": "../secret.txt"}, "'..' is refused"),
        ({"operation": "read", "path": "/etc/passwd"}, "absolute paths are refused"),
        ({"operation": "read", "path": "~/.ssh/id_rsa"}, "absolute paths are refused"),
        ({"operation": "read", "path": "out"}, "leads outside the workspace"),
        ({"operation": "read", "path": "notes.txt\x00../../etc/passwd"}, "NUL"),
        ({"operation": "read", "path": "loop"}, "loop"),
        ({"operation": "read", "path": "pipe.txt"}, "not a file"),
        ({"operation": "read", "path": "x" * 300}, "at most 200 characters"),
    ],
)
def test_paths_out_of_the_workspace_and_special_files_are_tool_errors(files_tool, args, problem):
    with pytest.raises(ValueError, match=problem):
        files_tool.invoke(args)


def test_list_and_grep_skip_loops_and_fifos_without_blocking(files_tool):
    result: dict[str, str] = {}

    def run() -> None:
        result["list"] = files_tool.invoke({"operation": "list", "path": "."})
        result["grep"] = files_tool.invoke({"operation": "grep", "path": ".", "pattern": "hello"})

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=20)  # a FIFO opened for reading would block here
    assert not worker.is_alive(), "the files tool blocked"
    assert result["list"].splitlines() == ["notes.txt", "pipe.txt"]  # the loop and the link out are not shown
    assert result["grep"] == "notes.txt:1: hello"


@pytest.mark.parametrize(
    "arguments, problem",
    [
        ('{"expression": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"expression": ' + "9" * 5000 + "}", "expression: a 5000-digit integer is out of range"),
        ('{"expression": ' + "[" * 150 + "]" * 150 + "}", "nested more than 100 levels"),
    ],
    ids=["100k-deep", "5000-digit", "150-deep"],
)
def test_deep_or_huge_json_arguments_are_a_malformed_step(arguments, problem):
    step = parse_step("Action: calculator\nAction Input: " + arguments, [CALCULATOR, final_answer_spec()])
    assert (step.action, step.well_formed) == (FINAL_ANSWER, False)
    assert problem in step.problem


def test_the_agent_sees_each_hostile_call_as_an_error_observation(fake_model, tmp_path):
    (tmp_path / "secret.txt").write_text("secret\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    fake_model.enqueue(
        " calculator\n",
        ' {"expression": "10**10**10"}',
        " files\n",
        ' {"operation": "read", "path": "../secret.txt"}',
        " final_answer\n",
        ' {"answer": "refused"}',
    )
    response = ask("Try it.", tools=["calculator", "files"], workspace=workspace)
    events = [event.to_json() for event in response]
    observations = [e["content"] for e in events if e["type"] == "observation"]
    assert len(observations) == 2
    assert observations[0].startswith("Error: calculator failed: CalculatorError: result too large")
    # the path is not one of the workspace's (the files tool's argument pattern): refused before the tool runs
    assert observations[1].startswith("Error: invalid arguments for files: path: '../secret.txt' does not match")
    assert "\n" not in observations[1]
    assert all("secret\n" not in json.dumps(e) for e in events)
    assert response.answer == "refused"
