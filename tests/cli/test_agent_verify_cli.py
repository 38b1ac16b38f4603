"""`llmdeck agent`, `llmdeck verify` and `llmdeck tools` in-process on the scripted fake model: exact
--json lines, human output, recorded runs, exports, and bad input as one line with exit code 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def without_ids(event: dict) -> dict:
    return {k: v for k, v in event.items() if k not in ("id", "seconds")}


def test_agent_json_lines(fake_model):
    fake_model.enqueue(" calculator\n", ' {"expression": "2 + 2"}', " final_answer\n", ' {"answer": "4"}')
    result = invoke("agent", "What is 2 + 2?", "--tools", "calculator", "--no-thoughts", "--json")
    assert result.exit_code == 0, result.output
    lines = [without_ids(json.loads(line)) for line in result.stdout.splitlines()]
    assert lines == [
        {
            "type": "tool_call",
            "step": 1,
            "name": "calculator",
            "args": {"expression": "2 + 2"},
            "text": 'Action: calculator\nAction Input: {"expression": "2 + 2"}',
        },
        {"type": "observation", "step": 1, "name": "calculator", "content": "4", "error": False},
        {
            "type": "final",
            "answer": "4",
            "steps": 2,
            "limit": None,
            "text": 'Action: final_answer\nAction Input: {"answer": "4"}',
        },
    ]


def test_agent_human_output_and_recorded_runs(fake_model, tmp_path):
    fake_model.enqueue(
        " Add them.\n", " calculator\n", ' {"expression": "2 + 2"}', " Done.\n", " final_answer\n", ' {"answer": "4"}'
    )
    result = invoke("agent", "What is 2 + 2?", "--tools", "calculator,datetime", "--thoughts")
    assert result.exit_code == 0 and result.stdout == "4\n"
    assert '[1] thought: Add them.\n[1] calculator({"expression": "2 + 2"})\n[1] result: 4\n' in result.stderr
    assert "[answered in 2 steps" in result.stderr
    runs = json.loads(invoke("agent", "runs", "list", "--json").stdout)
    assert [(r["status"], r["prompt"], r["steps"]) for r in runs] == [("answered", "What is 2 + 2?", 2)]
    shown = invoke("agent", "runs", "show", runs[0]["id"]).stdout
    assert "status     answered" in shown and '[1] calculator({"expression": "2 + 2"})' in shown
    output = tmp_path / "traces.jsonl"
    assert invoke("agent", "runs", "export", "-o", str(output)).exit_code == 0
    row = json.loads(output.read_text())
    assert row["messages"][-1]["content"] == 'Thought: Done.\nAction: final_answer\nAction Input: {"answer": "4"}'
    assert row["messages"][1] == {"role": "user", "content": "What is 2 + 2?"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["agent", "q", "--tools", "calculator,teleport"], "unknown tool(s) teleport"),
        (["agent", "q", "--max-steps", "0"], "max_steps"),
        (["agent", "q", "--workspace", "/no/such/dir"], "--workspace /no/such/dir: not a directory"),
        (["agent", "runs", "show", "a-missing"], "agent run 'a-missing' not found"),
        (["agent", "runs", "export", "-o", "x.jsonl"], "nothing to export"),
        (["verify", "t", "--expect", "1", "--tests", "t.py"], "not both"),
        (["verify", "t", "--max-rounds", "0"], "max_rounds"),
        (["verify", "t", "--isolation", "vm"], "Invalid value for '--isolation'"),
        (["verify", "runs", "show", "v-missing"], "verify run 'v-missing' not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(fake_model, args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.py").write_text("assert True\n")
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_verify_json_lines_and_the_writer_grammar(fake_model):
    fake_model.enqueue("```python\nprint(42)\n```")
    result = invoke("verify", "Print 42.", "--expect", "42", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == ["code", "execution", "message", "verdict"]
    assert events[0]["code"] == "print(42)" and events[1]["stdout"] == "42\n"
    assert events[-1]["passed"] is True and events[-1]["status"] == "verified"
    grammar = fake_model.calls[0]["grammar"]._grammar
    assert grammar.startswith('root ::= "```python\\n" line{1,30} "```"')
    assert fake_model.calls[0]["temperature"] == 0.0


def test_verify_failure_exits_1_and_retries_are_sampled(fake_model):
    fake_model.enqueue("```python\nprint(41)\n```", "```python\nprint(40)\n```")
    result = invoke("verify", "Print 42.", "--expect", "42", "--max-rounds", "2")
    assert result.exit_code == 1
    assert "verdict: failed after 2 round(s)" in result.stderr and result.stdout == ""
    assert [c["temperature"] for c in fake_model.calls] == [0.0, 0.7]
    runs = json.loads(invoke("verify", "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "failed" and runs[0]["passed"] is False


def test_tools_list(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import nonexistent_module_xyz\n")
    result = invoke("tools", "list", "--json", "--tools-file", str(broken))
    assert result.exit_code == 0
    listing = json.loads(result.stdout)
    assert listing["mcp_servers"] == []  # none in config.toml
    tools = {t["name"]: t for t in listing["tools"]}
    assert set(tools) == {"calculator", "files", "rag_search", "python", "datetime", "http_get"}
    assert tools["python"]["parameters"]["properties"]["code"]["type"] == "string"
    assert "warning:" in result.stderr and "broken.py: could not load (ModuleNotFoundError" in result.stderr
    table = invoke("tools", "list").stdout
    assert table.splitlines()[0].split() == ["NAME", "DEFAULT", "SOURCE", "DESCRIPTION", "ARGUMENTS"]
