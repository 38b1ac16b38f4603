"""The embedded SmolLM2-135M through the real `llmdeck` entry point: every agent step is well formed under
the constrained decode, every JSON line matches the event schema, and the verify pair ends with a verdict.
Structure and plumbing only: a 135M model is not expected to be right."""

from __future__ import annotations

import json

import jsonschema
import pytest

from llmdeck.agents.tools import ToolCatalog
from tests.agents.conftest import AGENT_EVENT_FIELDS, VERIFY_EVENT_FIELDS, schema_problems

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What is 17 * 23?",
    "Which files are in the workspace?",
    "How many pears are in inventory.txt?",
    "What day is it today?",
    "Say hello.",
]


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("thoughts", [True, False])
def test_every_agent_step_is_well_formed(cli, workspace, question, thoughts):
    args = [
        "agent",
        question,
        "--tools",
        "calculator,files,datetime",
        "--workspace",
        str(workspace),
        "--max-steps",
        "4",
        "--threads",
        "1",
        "--json",
        "--thoughts" if thoughts else "--no-thoughts",
    ]
    result = cli(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    events = json_lines(result.stdout)
    assert [schema_problems(e, AGENT_EVENT_FIELDS) for e in events] == [[]] * len(events)
    assert events[-1]["type"] == "final" and sum(e["type"] == "final" for e in events) == 1
    schemas = {row.name: row.parameters for row in ToolCatalog().info()}
    calls = [e for e in events if e["type"] == "tool_call"]
    for event in calls:
        assert event["name"] in ("calculator", "files", "datetime")
        jsonschema.validate(event["args"], schemas[event["name"]])  # arguments fit the tool's schema
        assert event.get("well_formed", True)
    assert len(calls) == sum(e["type"] == "observation" for e in events)
    assert events[-1]["steps"] <= 4 and events[-1]["answer"].strip()
    assert ("thought" in {e["type"] for e in events}) is thoughts


def test_the_run_is_recorded_and_exports_for_training(cli, workspace, tmp_path):
    assert cli("agent", "What is 12 * 12?", "--tools", "calculator", "--threads", "1").returncode == 0
    runs = json.loads(cli("agent", "runs", "list", "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] in ("answered", "limit")
    output = tmp_path / "traces.jsonl"
    exported = cli("agent", "runs", "export", "--all", "-o", str(output))
    assert exported.returncode == 0, exported.stderr
    from llmdeck.tuning.data import prepare

    assert prepare(output).report.valid == 1


def test_the_verify_pair_on_the_embedded_model(cli):
    result = cli(
        "verify",
        "Print the sum of the numbers from 1 to 10.",
        "--expect",
        "55",
        "--max-rounds",
        "2",
        "--threads",
        "1",
        "--json",
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    events = json_lines(result.stdout)
    assert [schema_problems(e, VERIFY_EVENT_FIELDS) for e in events] == [[]] * len(events)
    verdict = events[-1]
    assert verdict["type"] == "verdict" and verdict["checks"] == "expect"
    assert (result.returncode == 0) is verdict["passed"]
    codes = [e for e in events if e["type"] == "code"]
    assert codes and all(c["text"].startswith("```python\n") and c["text"].endswith("```") for c in codes)
    assert verdict["rounds"] == len(codes) <= 2
    runs = json.loads(cli("verify", "runs", "list", "--json").stdout)
    assert runs[0]["status"] in ("verified", "failed")
