"""The loop's orchestration on the scripted fake model, with training and export replaced by stand-ins (the slow
tier runs the real ones): stages in order, state saved after each, a stopped loop resumed where it stopped, the
next round collecting with the previous round's model, and a resumed loop refusing other task files or base."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.agents import attempts
from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput
from llmdeck.services import loop as loop_service
from llmdeck.services.loop import STAGES, load_state, run_loop, stage_brief

MODEL = "smollm2-135m-instruct"


@pytest.fixture
def code_tasks(tmp_path):
    path = tmp_path / "code.jsonl"
    rows = [{"id": f"c{n}", "kind": "verify", "task": f"Print {n}.", "expect": str(n), "split": "train"} for n in range(2)]
    rows.append({"id": "h", "kind": "verify", "task": "Print 9.", "expect": "9", "split": "heldout"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def stand_ins(monkeypatch):
    """Training and export that only record what they were asked to do."""
    calls = []

    def train(self, number, stage, record, values, clock):
        calls.append(("train", number, stage, values["base_model"], values["dataset"]))
        record["run_id"] = f"run-{number}-{stage}"
        yield {"type": "progress", "round": number, "stage": stage, "done": 1, "total": 1, "detail": "stand-in"}
        return {"run_id": record["run_id"], "steps": 1, "loss": 0.5, "seconds": 0.0}

    def export(self, number, stage, run_id, name):
        calls.append(("export", number, stage, run_id, name))
        yield from ()
        return {"model": MODEL, "run_id": run_id, "seconds": 0.0}

    monkeypatch.setattr(loop_service.LoopResponse, "_train", train)
    monkeypatch.setattr(loop_service.LoopResponse, "_export", export)
    return calls


def program(text: str) -> str:
    return f"```python\n{text}\n```"


def test_two_rounds_in_order_with_state_saved(fake_model, code_tasks, stand_ins):
    fake_model.enqueue(program("print(0)"), program("print(5)"), program("print(1)"), program("print(1)"))
    fake_model.default_reply = program("print(0)")  # round 2: c0 passes twice, c1 fails twice
    response = run_loop({"name": "t", "tasks": [str(code_tasks)], "rounds": 2, "samples": 2, "max_rounds": 1})
    events = list(response)
    done = [(e["round"], e["stage"], e["status"]) for e in events if e["type"] == "stage" and e["status"] != "start"]
    expected = [(r, s, "done") for r in (1, 2) for s in STAGES]
    # no agent tasks in the file; 1 pair < --min-pairs 8; no evaluation asked for
    skipped = ("collect-agent", "preference", "export-preference", "evaluate")
    expected = [(r, s, "skip" if s in skipped else status) for r, s, status in expected]
    assert done == expected
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"
    rows = events[-1]["rows"]
    assert [row["verify_pass"] for row in rows] == ["3/4 (0.75)", "2/4 (0.50)"]
    assert (rows[0]["sft_rows"], rows[0]["pairs"]) == (2, 1)  # c0 and c1 (the same program twice); c0: pass + fail
    # rounds 1 and 2 together, deduplicated; c1 failed in round 2 after passing in round 1: a second pair
    assert (rows[1]["sft_rows"], rows[1]["pairs"]) == (2, 2)
    trains = [c for c in stand_ins if c[0] == "train"]
    assert [(c[1], c[2]) for c in trains] == [(1, "sft"), (2, "sft")]  # 1 pair < --min-pairs 8: no preference stage
    assert all(c[3] == MODEL and c[4].endswith("data/sft.jsonl") for c in trains)
    state = load_state("t")
    assert state.status == "completed" and [r["model"] for r in state.rounds] == [MODEL, MODEL]
    assert state.rounds[1]["stages"]["collect-verify"]["result"]["collections"] == ["t-r2-verify-code"]
    assert {a.split for a in attempts.attempts()} == {"train"}  # the held-out task is never collected


def test_a_stopped_loop_resumes_at_the_stage_it_stopped(fake_model, code_tasks, stand_ins):
    fake_model.enqueue(program("print(0)"), program("print(5)"), program("print(1)"), program("print(1)"))
    config = {"name": "r", "tasks": [str(code_tasks)], "rounds": 1, "samples": 2, "min_pairs": 1, "max_rounds": 1}
    response = run_loop(config)
    for event in response:
        if event["type"] == "stage" and event["stage"] == "data" and event["status"] == "done":
            response.close()
    assert load_state("r").status == "stopped" and stand_ins == []
    events = list(run_loop(config))
    status = {e["stage"]: e["status"] for e in events if e["type"] == "stage" and e["status"] != "start"}
    assert status["collect-verify"] == "skip" and status["data"] == "skip" and status["sft"] == "done"
    assert status["preference"] == "done"  # 1 pair >= --min-pairs 1: DPO from the SFT export
    assert [c[2] for c in stand_ins] == ["sft", "export-sft", "preference", "export-preference"]
    assert stand_ins[2][3] == MODEL  # the preference run starts from the SFT export
    with pytest.raises(BadInput, match="exists with other tasks"):
        run_loop({"name": "r", "rounds": 1})  # the bundled task files, not the loop's


def test_loop_cli_show_and_list(fake_model, code_tasks, stand_ins):
    fake_model.default_reply = program("print(0)")
    runner = CliRunner()
    result = runner.invoke(cli, ["loop", "--name", "c", "--tasks", str(code_tasks), "--samples", "1", "--max-rounds", "1"])
    assert result.exit_code == 0, result.output
    assert "ROUND  COLLECTED_BY" in result.stdout and "c-r1-sft.q8_0" not in result.stdout
    assert "[round 1] sft: done" in result.stderr
    assert "[round 1] collect-verify: done (attempts 2, passed 1, pass_rate 0.5" in result.stderr
    shown = runner.invoke(cli, ["loop", "show", "c", "--json"])
    assert json.loads(shown.stdout)["rows"][0]["verify_pass"] == "1/2 (0.50)"
    listed = runner.invoke(cli, ["loop", "list"])
    assert "c" in listed.stdout and "completed" in listed.stdout
    missing = runner.invoke(cli, ["loop", "show", "nope"])
    assert missing.exit_code == 2 and "loop 'nope' not found" in missing.stderr
    bad = runner.invoke(cli, ["loop", "--name", "Bad Name"])
    assert bad.exit_code == 2 and "--name 'Bad Name'" in bad.stderr


def test_stage_brief_names_the_known_keys_in_order_and_skips_the_rest():
    result = {"model": "m-r1", "passed": 0, "attempts": 3, "collections": ["x"], "loss": None}
    assert stage_brief(result) == " (attempts 3, passed 0, model m-r1)"
    assert stage_brief({"collections": ["x"]}) == "" and stage_brief(None) == ""


def test_an_interrupted_loop_is_recorded_as_stopped_with_its_time(fake_model, code_tasks, stand_ins, monkeypatch):
    def interrupted(self, number, entry, record, clock):
        yield {"type": "progress", "round": number, "stage": "data", "done": 0, "total": 1, "detail": ""}
        raise KeyboardInterrupt

    fake_model.default_reply = program("print(0)")
    monkeypatch.setattr(loop_service.LoopResponse, "_data", interrupted)
    with pytest.raises(KeyboardInterrupt):
        list(run_loop({"name": "k", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1}))
    state = load_state("k")
    assert state.status == "stopped" and state.seconds > 0
    assert state.rounds[0]["stages"]["collect-verify"]["status"] == "done"
    assert state.rounds[0]["stages"]["data"]["status"] == "running"  # redone on resume
