"""Training data from recorded attempts (`agents.run_datasets`, `llmdeck data from-runs`), on scripted records:
verified traces become SFT rows with their tool calls, verified-vs-failed attempts preference pairs, duplicates
and malformed traces are dropped, and held-out tasks never reach the files, however they were recorded."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.agents import attempts, records
from llmdeck.agents.decoding import step_text
from llmdeck.agents.events import AgentAnswered, CodeExecuted, CodeWritten, ToolCalled, ToolReturned
from llmdeck.agents.run_datasets import MANIFEST_FILE, PREFERENCE_FILE, SFT_FILE, build, parse_since
from llmdeck.agents.tasks import load_tasks
from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput
from llmdeck.tuning import data

SYSTEM = "You answer with tools."


def agent_attempt(
    task_id, question, steps, answer, *, passed, split="train", collection="c1", sample=0, well_formed=True, hint=None
):
    """A recorded agent run (tool calls, results, final answer) and its attempt row."""
    asked = f"{question}\nHint: {hint}" if hint else question
    run_id = records.start_run(
        "agent",
        asked,
        "m",
        {
            "system_prompt": SYSTEM,
            "observation_role": "user",
            "task": {"id": task_id, "split": split, "question": question},
        },
    )
    for n, (name, args, result) in enumerate(steps, start=1):
        records.add_event(run_id, ToolCalled(n, name, args, f"call_{n}", step_text("", name, args)))
        records.add_event(run_id, ToolReturned(n, name, result, False))
    text = step_text("", "final_answer", {"answer": answer}) if well_formed else answer
    records.add_event(run_id, AgentAnswered(answer, len(steps) + 1, None, 0.1, text, well_formed=well_formed))
    records.finish_run(run_id, "answered", answer, len(steps) + 1)
    attempts.add(
        collection,
        task_id,
        sample,
        run_id,
        "agent",
        "tasks.jsonl",
        split,
        {"passed": passed, "correct": passed, "tool_ok": True},
        "m",
    )
    return run_id


def verify_attempt(task_id, task, programs, *, passed, split="train", collection="v1", sample=0, record=True):
    """A recorded verify run: each program a round (the last passes when `passed`), and its attempt row."""
    run_id = records.start_run(
        "verify",
        task,
        "m",
        {
            "system_prompt": "Write Python.",
            "task_prompt": task,
            "checks": {"expect": "42", "tests": None},
            **({"task": {"id": task_id, "split": split}} if record else {}),
        },
    )
    for n, code in enumerate(programs, start=1):
        ok = passed and n == len(programs)
        records.add_event(run_id, CodeWritten(n, code, records.fenced(code)))
        records.add_event(
            run_id,
            CodeExecuted(
                n, 0, "42\n" if ok else "41\n", "", 0.1, "process", None, "passed" if ok else "failed", None, ok
            ),
        )
    records.finish_run(
        run_id,
        "verified" if passed else "failed",
        records.fenced(programs[-1]) if passed else None,
        len(programs),
        passed=passed,
    )
    if record:
        attempts.add(
            collection,
            task_id,
            sample,
            run_id,
            "verify",
            "tasks.jsonl",
            split,
            {"passed": passed, "rounds": len(programs)},
            "m",
        )
    return run_id


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


CALC = [("calculator", {"expression": "6 * 7"}, "42")]


def test_verified_traces_and_programs_become_sft_rows_in_the_training_format(tmp_path):
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "42", passed=True)
    agent_attempt(
        "arith-1", "What is 6 * 7?", [("calculator", {"expression": "6 + 7"}, "13")], "13", passed=False, sample=1
    )
    verify_attempt("code-1", "Print 6 times 7.", ["print(6 * 7)"], passed=True)
    report = build(tmp_path / "out")
    rows = read_jsonl(tmp_path / "out" / SFT_FILE)
    assert report.sft_rows == {"agent": 1, "verify": 1}
    trace = next(r for r in rows if r["kind"] == "agent")
    assert [m["role"] for m in trace["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert trace["messages"][2]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": '{"expression": "6 * 7"}',
    }
    assert trace["messages"][2]["content"] == 'Action: calculator\nAction Input: {"expression": "6 * 7"}'
    assert trace["messages"][3]["content"] == "Result: 42"
    assert trace["messages"][4]["content"] == 'Action: final_answer\nAction Input: {"answer": "42"}'
    program = next(r for r in rows if r["kind"] == "verify")
    assert program["messages"][-1] == {"role": "assistant", "content": "```python\nprint(6 * 7)\n```"}
    prepared = data.prepare(tmp_path / "out" / SFT_FILE, "messages", "sft")
    assert prepared.report.valid == 2 and prepared.report.bad_count == 0


def test_preference_pairs_start_where_the_verified_and_the_failed_attempt_part(tmp_path):
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "42", passed=True)
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "6", passed=False, sample=1)  # same call, wrong answer
    verify_attempt("code-1", "Print 6 times 7.", ["print(6 + 7)", "print(6 * 7)"], passed=True)
    verify_attempt("code-1", "Print 6 times 7.", ["print(67)"], passed=False, sample=1)
    build(tmp_path)
    pairs = {p["kind"]: [] for p in read_jsonl(tmp_path / PREFERENCE_FILE)}
    for pair in read_jsonl(tmp_path / PREFERENCE_FILE):
        pairs[pair["kind"]].append(pair)
    (agent,) = pairs["agent"]
    assert [m["role"] for m in agent["prompt"]] == ["system", "user", "assistant", "user"]  # the shared tool call
    assert agent["chosen"][0]["content"].endswith('{"answer": "42"}')
    assert agent["rejected"][0]["content"].endswith('{"answer": "6"}')
    rejected = sorted(p["rejected"][0]["content"] for p in pairs["verify"])
    assert rejected == ["```python\nprint(6 + 7)\n```", "```python\nprint(67)\n```"]
    assert all(p["chosen"][0]["content"] == "```python\nprint(6 * 7)\n```" for p in pairs["verify"])
    prepared = data.prepare(tmp_path / PREFERENCE_FILE, "preference", "dpo")
    assert prepared.report.valid == 3


def test_duplicates_malformed_traces_and_the_per_task_cap(tmp_path):
    for sample in range(3):
        agent_attempt("arith-1", "What is 6 * 7?", CALC, "42", passed=True, sample=sample)
    agent_attempt("arith-2", "What is 2 + 2?", [], "4", passed=True, well_formed=False)
    for sample in range(4):
        verify_attempt("code-1", "Print 42.", [f"print({40 + sample} + {2 - sample})"], passed=True, sample=sample)
    report = build(tmp_path, max_per_task=2)
    assert report.sft_rows == {"agent": 1, "verify": 2}
    assert (report.duplicates_dropped, report.malformed_dropped, report.capped) == (2, 1, 2)


def test_heldout_tasks_never_leak_however_they_were_recorded(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps(
            {"id": "arith-9", "kind": "agent", "question": "What is 9 * 9?", "answers": ["81"], "split": "heldout"}
        )
        + "\n"
    )
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "42", passed=True)
    agent_attempt("arith-2", "What is 5 * 5?", CALC, "25", passed=True, split="heldout")  # recorded held out
    agent_attempt("arith-2", "What is 5 * 5?", CALC, "25", passed=True, collection="c2")  # same id as train
    agent_attempt("arith-9", "What is 9 * 9?", CALC, "81", passed=True)  # held out in the file
    agent_attempt("other-id", "What  is 9 *  9?", CALC, "81", passed=True)  # a held-out text
    verify_attempt("code-2", "Print 7.", ["print(7)"], passed=True, split="heldout")
    verify_attempt("adhoc", "print 7.", ["print(7)"], passed=True, record=False)  # ad hoc, same text
    verify_attempt("adhoc", "Print 8.", ["print(8)"], passed=True, record=False)  # ad hoc, new task
    interrupted = verify_attempt("code-3", "Print 3.", ["print(3)"], passed=True, split="heldout")  # verdict kept,
    with records.db.transaction(attempts._connect()) as conn:  # attempt row not
        conn.execute("DELETE FROM task_attempts WHERE run_id = ?", (interrupted,))
    report = build(tmp_path / "out", task_files=[load_tasks(tasks)])
    rows = read_jsonl(tmp_path / "out" / SFT_FILE)
    assert sorted(r["task_id"] for r in rows if r["kind"] == "agent") == ["arith-1"]
    kept_programs = [r for r in rows if r["kind"] == "verify"]
    assert [r["messages"][1]["content"] for r in kept_programs] == ["Print 8."]
    assert kept_programs[0]["task_id"].startswith("adhoc-")
    assert report.heldout_attempts_dropped == 6
    assert {"arith-2", "arith-9", "code-2"} <= set(report.heldout_tasks)
    assert not set(report.heldout_tasks) & {r["task_id"] for r in rows}
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert manifest["heldout_tasks"] == report.heldout_tasks and manifest["sft_rows"] == {"agent": 1, "verify": 1}
    # the plain exports (`agent runs export`, `verify runs export`) skip runs of held-out tasks too
    questions = [r["messages"][1]["content"] for r in records.agent_trace_rows()]
    assert questions.count("What is 5 * 5?") == 1  # of its two runs, the one made as a held-out task is left out
    exported = {r["messages"][1]["content"] for r in records.verify_sft_rows()}
    assert "Print 7." not in exported and "Print 3." not in exported and "Print 8." in exported


def test_filters_a_stale_preference_file_and_nothing_to_build(tmp_path):
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "42", passed=True, collection="round1")
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "6", passed=False, collection="round1", sample=1)
    build(tmp_path)
    assert (tmp_path / PREFERENCE_FILE).exists()
    agent_attempt("arith-3", "What is 1 + 1?", [], "2", passed=True, collection="round2")
    report = build(tmp_path, collections=["round2"])
    assert report.sft_rows == {"agent": 1} and not (tmp_path / PREFERENCE_FILE).exists()
    assert build(tmp_path / "v", kinds=["agent"], since=parse_since("1h")).sft_total == 2
    with pytest.raises(BadInput, match="nothing to build"):
        build(tmp_path / "none", kinds=["verify"])
    with pytest.raises(BadInput, match="nothing to build"):
        build(tmp_path / "later", since=parse_since("2999-01-01"))


def test_a_hinted_trace_is_trained_on_the_plain_question(tmp_path):
    hint = 'Use the calculator with {"expression": "30 * 60"}'
    agent_attempt(
        "units-1",
        "How many seconds are in 30 minutes?",
        [("calculator", {"expression": "30 * 60"}, "1800")],
        "1800",
        passed=True,
        hint=hint,
    )
    agent_attempt(
        "units-1",
        "How many seconds are in 30 minutes?",
        [("calculator", {"expression": "30"}, "30")],
        "30",
        passed=False,
        hint=hint,
        sample=1,
    )
    report = build(tmp_path)
    (row,) = read_jsonl(tmp_path / SFT_FILE)
    assert row["messages"][1] == {"role": "user", "content": "How many seconds are in 30 minutes?"}
    assert row["hinted"] is True and report.hinted_rows == 1
    (pair,) = read_jsonl(tmp_path / PREFERENCE_FILE)
    assert pair["prompt"][-1]["content"] == "How many seconds are in 30 minutes?"
    assert not any("Hint:" in m["content"] for m in row["messages"] + pair["prompt"])


def test_parse_since():
    assert parse_since("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_since("2d", now=200_000.0) == 200_000.0 - 172_800
    with pytest.raises(BadInput, match="--since 'yesterday'"):
        parse_since("yesterday")


def test_data_from_runs_cli(tmp_path):
    agent_attempt("arith-1", "What is 6 * 7?", CALC, "42", passed=True)
    verify_attempt("code-1", "Print 6 times 7.", ["print(6 * 7)"], passed=True)
    runner = CliRunner()
    result = runner.invoke(cli, ["data", "from-runs", "--agent", "--out", str(tmp_path / "d"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sft_rows"] == {"agent": 1}
    result = runner.invoke(cli, ["data", "from-runs", "--out", str(tmp_path / "d2")])
    assert result.exit_code == 0 and f"{tmp_path / 'd2' / SFT_FILE}  (1 agent, 1 verify)" in result.stdout
    result = runner.invoke(cli, ["data", "from-runs", "--agent", "--verify", "--out", str(tmp_path / "d3")])
    assert result.exit_code == 2 and "give --agent or --verify" in result.stderr
    result = runner.invoke(cli, ["data", "from-runs", "--since", "soon", "--out", str(tmp_path / "d4")])
    assert result.exit_code == 2 and "--since 'soon'" in result.stderr
