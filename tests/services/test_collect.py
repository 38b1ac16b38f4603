"""Task sweeps (`services.collect`, `llmdeck agent|verify --tasks`) on the scripted fake model: every attempt
recorded with its verdict and its task's split, sampled attempts seeded, interrupted sweeps resumed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.agents import attempts, records
from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput
from llmdeck.services.collect import AttemptRecorded, SweepFinished, SweepStarted, attempt_seed, collect

CALC = ["calculator"]


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [
        {
            "id": "add",
            "kind": "agent",
            "question": "What is 2 + 2?",
            "answers": ["4"],
            "tool": "calculator",
            "tools": CALC,
            "split": "train",
            "category": "arithmetic",
        },
        {
            "id": "mul",
            "kind": "agent",
            "question": "What is 3 * 3?",
            "answers": ["9"],
            "tool": "calculator",
            "tools": CALC,
            "split": "train",
            "category": "arithmetic",
        },
        {
            "id": "held",
            "kind": "agent",
            "question": "What is 5 + 5?",
            "answers": ["10"],
            "tools": CALC,
            "split": "heldout",
        },
        {"id": "code", "kind": "verify", "task": "Print 42.", "expect": "42", "split": "train"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def script_calculation(fake, expression: str, answer: str) -> None:
    fake.enqueue(
        " calculator\n", json.dumps({"expression": expression}), " final_answer\n", json.dumps({"answer": answer})
    )


def test_agent_sweep_records_every_attempt_with_its_verdict(fake_model, task_file):
    script_calculation(fake_model, "2 + 2", "4")  # add #0: right
    script_calculation(fake_model, "2 + 3", "5")  # add #1: wrong
    script_calculation(fake_model, "3 * 3", "9")  # mul #0
    fake_model.enqueue(" final_answer\n", json.dumps({"answer": "9"}))  # mul #1: right answer, no tool
    sweep = collect(task_file, "agent", options={"samples": 2, "temperature": 0.8})
    events = list(sweep)
    assert [type(e) for e in events] == [SweepStarted, *[AttemptRecorded] * 4, SweepFinished]
    assert [(e.task_id, e.sample, e.passed) for e in events[1:-1]] == [
        ("add", 0, True),
        ("add", 1, False),
        ("mul", 0, True),
        ("mul", 1, False),
    ]
    assert events[-1].pass_rate == 0.5 and events[-1].by_category == {"arithmetic": {"attempts": 4, "passed": 2}}
    assert events[4].verdict["correct"] is True and events[4].verdict["tool_ok"] is False
    recorded = attempts.attempts(collection=sweep.collection)
    assert [(a.task_id, a.split, a.passed) for a in recorded] == [
        ("add", "train", True),
        ("add", "train", False),
        ("mul", "train", True),
        ("mul", "train", False),
    ]
    run = records.get_run(recorded[0].run_id)
    assert run.options["task"]["id"] == "add" and run.options["task"]["split"] == "train"
    assert run.options["temperature"] == 0.8 and run.options["seed"] == attempt_seed(sweep.collection, "add", 0)
    sampled = [c for c in fake_model.completion_calls if c.get("temperature")]
    assert sampled and all(c["temperature"] == 0.8 and c["seed"] is not None for c in sampled)


def test_an_interrupted_sweep_resumes_with_the_attempts_left(fake_model, task_file):
    script_calculation(fake_model, "2 + 2", "4")
    sweep = collect(task_file, "agent")
    for event in sweep:
        if isinstance(event, AttemptRecorded):
            sweep.close()
    assert sweep.summary()["stopped"] is True and sweep.attempted == 1
    script_calculation(fake_model, "3 * 3", "9")
    again = collect(task_file, "agent")
    events = list(again)
    assert again.collection == sweep.collection
    assert events[0].done == 1 and [e.task_id for e in events if isinstance(e, AttemptRecorded)] == ["mul"]
    assert len(attempts.attempts(collection=sweep.collection)) == 2
    assert list(collect(task_file, "agent"))[-1].attempted == 0  # nothing left


def test_guided_attempts_skip_the_action_choice(fake_model, task_file):
    fake_model.enqueue(json.dumps({"expression": "2 + 2"}), " final_answer\n", json.dumps({"answer": "4"}))
    sweep = collect(task_file, "agent", options={"guide": True, "limit": 1})
    assert [e.passed for e in sweep if isinstance(e, AttemptRecorded)] == [True]
    first = fake_model.completion_calls[0]
    assert first["prompt"].endswith("Action: calculator\nAction Input:")
    assert records.get_run(attempts.attempts(collection=sweep.collection)[0].run_id).options["guide"] == "calculator"


def test_verify_sweep_and_the_heldout_split(fake_model, task_file):
    fake_model.enqueue("```python\nprint(42)\n```")
    sweep = collect(task_file, "verify")
    assert [(e.task_id, e.passed) for e in sweep if isinstance(e, AttemptRecorded)] == [("code", True)]
    fake_model.enqueue(" final_answer\n", json.dumps({"answer": "10"}))
    held = collect(task_file, "agent", options={"split": "heldout"})
    assert [(e.task_id, e.passed) for e in held if isinstance(e, AttemptRecorded)] == [("held", True)]
    assert attempts.heldout_task_ids() == {"held"}


def test_bad_sweeps_are_refused_before_anything_runs(fake_model, task_file, tmp_path):
    with pytest.raises(BadInput, match="several attempts need --temperature"):
        collect(task_file, "agent", options={"samples": 3})
    with pytest.raises(BadInput, match="no verify tasks in split heldout"):
        collect(task_file, "verify", options={"split": "heldout"})
    with pytest.raises(BadInput, match="collect: samples"):
        collect(task_file, "agent", options={"samples": 0})
    assert attempts.attempts() == [] and fake_model.completion_calls == []


def test_agent_tasks_cli_streams_json_and_refuses_mixed_arguments(fake_model, task_file):
    script_calculation(fake_model, "2 + 2", "4")
    runner = CliRunner()
    result = runner.invoke(cli, ["agent", "--tasks", str(task_file), "--limit", "1", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["start", "attempt", "summary"]
    assert "collected 1 attempts" in result.stderr
    result = runner.invoke(cli, ["agent", "What?", "--tasks", str(task_file)])
    assert result.exit_code == 2 and "not both" in result.stderr
    result = runner.invoke(cli, ["agent", "--tasks", str(task_file), "--tools", "files"])
    assert result.exit_code == 2 and "come from the task file" in result.stderr
    fake_model.enqueue("```python\nprint(41)\n```", "```python\nprint(42)\n```")
    result = runner.invoke(cli, ["verify", "--tasks", str(task_file), "--max-rounds", "2"])
    assert result.exit_code == 0, result.output
    assert "code #0 pass (verified" in result.stderr and "pass rate 1.00" in result.stderr


def test_every_sweep_flag_reaches_collect(task_file, monkeypatch):
    from llmdeck.services import collect as collect_module

    calls = []
    monkeypatch.setattr(collect_module, "collect", lambda tasks, kind, **kw: calls.append((tasks, kind, kw)) or [])
    sampling = [
        "--samples",
        "3",
        "--temperature",
        "0.5",
        "--greedy-first",
        "--split",
        "all",
        "--limit",
        "2",
        "--sweep",
        "s1",
        "--adapter",
        "run-1",
        "--threads",
        "2",
        "-m",
        "some-model",
    ]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["agent", "--tasks", str(task_file), *sampling, "--max-steps", "4", "--free", "--guide"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        [
            "verify",
            "--tasks",
            str(task_file),
            *sampling,
            "--max-rounds",
            "2",
            "--max-tokens",
            "99",
            "--timeout",
            "5",
            "--isolation",
            "process",
        ],
    )
    assert result.exit_code == 0, result.output
    common = {"samples": 3, "temperature": 0.5, "greedy_first": True, "split": "all", "limit": 2}
    where = {"model": "some-model", "adapter": "run-1", "collection": "s1", "n_threads": 2}
    assert calls == [
        (
            str(task_file),
            "agent",
            {**where, "options": {**common, "max_steps": 4, "constrained": False, "guide": True, "hints": False}},
        ),
        (
            str(task_file),
            "verify",
            {
                **where,
                "options": {**common, "max_rounds": 2, "max_tokens": 99, "timeout_s": 5.0, "isolation": "process"},
            },
        ),
    ]
