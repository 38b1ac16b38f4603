"""The loop's orchestration on the scripted fake model, with training and export replaced by stand-ins behind their
public entry points (the slow tier runs the real ones): stages in order, state saved after each, a stopped or
killed loop resumed where it stopped, the next round collecting with the previous round's model, a resumed loop
refusing other task files or base, and the state.json of an older llmdeck imported once."""

from __future__ import annotations

import json
import os
import re
import signal
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from llmdeck.agents import attempts, run_datasets
from llmdeck.cli.main import cli
from llmdeck.core import db
from llmdeck.core.errors import BadInput
from llmdeck.services.loop import STAGES, list_loops, load_state, run_loop, stage_brief
from llmdeck.services.loop_state import loop_dir

MODEL = "smollm2-135m-instruct"


@pytest.fixture
def code_tasks(tmp_path):
    path = tmp_path / "code.jsonl"
    rows = [
        {"id": f"c{n}", "kind": "verify", "task": f"Print {n}.", "expect": str(n), "split": "train"} for n in range(2)
    ]
    rows.append({"id": "h", "kind": "verify", "task": "Print 9.", "expect": "9", "split": "heldout"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def round_number(name: str) -> int:
    return int(re.findall(r"-r(\d+)", name)[-1])


class FakeHumanEval:
    """What `loop.humaneval_run` returns, scripted: no sample to stream, `passed` as its report."""

    def __init__(self, passed: dict[str, int]):
        self.passed = passed

    def __iter__(self):
        return iter(())

    def close(self) -> None:
        pass

    def report(self):
        return SimpleNamespace(passed=self.passed)


@pytest.fixture
def stand_ins(monkeypatch, embedded_gguf):
    """`runs.launch` and `export.export_run` replaced by stand-ins that record what they were asked to do: a launched
    run is completed at once (`runs.get`), an export registers the embedded model under the exported name; the
    transfer stage's HumanEval and perplexity answer from a script (a model named -r1 passes one problem more)."""
    from llmdeck.core import hardware
    from llmdeck.core.store import ModelStore
    from llmdeck.services import loop
    from llmdeck.tuning import export, runs

    def humaneval_run(model, limit, n_threads, workers=None):
        calls.append(("humaneval", model, limit))
        return FakeHumanEval({"HumanEval/0": 1, "HumanEval/1": int("-r1" in model), "HumanEval/2": 0})

    def measure_perplexity(model, path, n_threads):
        calls.append(("perplexity", model, path.name))
        return {"perplexity": 9.5 if "-r" in model else 10.0, "loss": 2.3, "tokens": 2400}

    monkeypatch.setattr(loop, "humaneval_run", humaneval_run)
    monkeypatch.setattr(hardware, "cuda_device_possible", lambda: False)  # --rl auto skips GRPO, GPU or not
    monkeypatch.setattr(loop, "measure_perplexity", measure_perplexity)

    calls, launched = [], {}

    def launch(config):
        number = round_number(config.name)
        stage = {"sft": "sft", "grpo": "rl"}.get(config.method, "preference")
        calls.append(("train", number, stage, config.base_model, config.dataset, config.allow_truncation))
        run = SimpleNamespace(
            id=f"run-{number}-{stage}",
            status="completed",
            global_step=1,
            max_steps=1,
            pid=None,
            last_metrics={"loss": 0.5},
            error=None,
            created_at=1.0,
            started_at=1.0,
            finished_at=1.0,
        )
        launched[run.id] = run
        # a max_length under 100 tokens cuts the scripted rows, as the real plan would say
        cut = f"1 of 2 rows (50.0%) exceed max_length {config.max_length}" if config.max_length < 100 else None
        return run, SimpleNamespace(truncation_warning=lambda: cut)

    def export_run(run_id, quants, name, **options):
        stage = {"-sft": "export-sft", "grpo": "export-rl"}.get(name[-4:], "export-preference")
        calls.append(("export", round_number(name), stage, run_id, name))
        ModelStore().register(embedded_gguf, name=f"{name}.{quants}")

    monkeypatch.setattr(runs, "launch", launch)
    monkeypatch.setattr(runs, "get", lambda run_id: launched[run_id])
    monkeypatch.setattr(export, "export_run", export_run)
    return calls


def as_json(event) -> dict:
    """An event's JSON form (the one `--json` prints)."""
    return event if isinstance(event, dict) else event.to_json()


def program(text: str) -> str:
    return f"```python\n{text}\n```"


def test_two_rounds_in_order_with_state_saved(fake_model, code_tasks, stand_ins):
    fake_model.enqueue(program("print(0)"), program("print(5)"), program("print(1)"), program("print(1)"))
    fake_model.default_reply = program("print(0)")  # round 2: c0 passes twice, c1 fails twice
    config = {"name": "t", "tasks": [str(code_tasks)], "rounds": 2, "samples": 2, "max_rounds": 1, "evaluate": False}
    events = [as_json(e) for e in run_loop(config)]
    done = [(e["round"], e["stage"], e["status"]) for e in events if e["type"] == "stage" and e["status"] != "start"]
    expected = [(r, s, "done") for r in (1, 2) for s in STAGES]
    # no agent tasks in the file; 1 pair < --min-pairs 8; no evaluation asked for (the gate then promotes ungated)
    skipped = ("collect-agent", "preference", "export-preference", "rl", "export-rl", "evaluate", "transfer")
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
    assert state.status == "completed" and [r["model"] for r in state.rounds] == [MODEL, "t-r1-sft.q8_0"]
    assert state.rounds[1]["stages"]["collect-verify"]["result"]["collections"] == ["t-r2-verify-code"]
    assert {a.split for a in attempts.attempts()} == {"train"}  # the held-out task is never collected


def test_rows_over_max_length_are_cut_and_recorded_not_a_stopped_night(fake_model, code_tasks, stand_ins):
    fake_model.default_reply = program("print(0)")
    for name, max_length in (("short", 64), ("long", 512)):
        fake_model.enqueue(program("print(0)"), program("print(5)"), program("print(1)"), program("print(1)"))
        config = {"name": name, "tasks": [str(code_tasks)], "samples": 2, "min_pairs": 1, "evaluate": False}
        events = [as_json(e) for e in run_loop({**config, "max_length": max_length})]
        assert events[-1]["status"] == "completed"
        results = {e["stage"]: e.get("result") for e in events if e["type"] == "stage" and e["status"] == "done"}
        cut = {stage: results[stage].get("truncated") for stage in ("sft", "preference")}
        expected = f"1 of 2 rows (50.0%) exceed max_length {max_length}" if max_length < 100 else None
        assert cut == {"sft": expected, "preference": expected}
        assert load_state(name).rounds[0]["stages"]["sft"]["result"].get("truncated") == expected
    trains = [c for c in stand_ins if c[0] == "train"]
    assert len(trains) == 4 and all(c[5] for c in trains)  # unattended: launched, the cut recorded


def test_a_stopped_loop_resumes_at_the_stage_it_stopped(fake_model, code_tasks, stand_ins):
    fake_model.enqueue(program("print(0)"), program("print(5)"), program("print(1)"), program("print(1)"))
    fake_model.default_reply = program("print(0)")  # the held-out evaluation
    config = {"name": "r", "tasks": [str(code_tasks)], "rounds": 1, "samples": 2, "min_pairs": 1, "max_rounds": 1}
    response = run_loop(config)
    for event in map(as_json, response):
        if event["type"] == "stage" and event["stage"] == "data" and event["status"] == "done":
            response.close()
    assert load_state("r").status == "stopped" and stand_ins == []
    events = [as_json(e) for e in run_loop(config)]
    status = {e["stage"]: e["status"] for e in events if e["type"] == "stage" and e["status"] != "start"}
    assert status["collect-verify"] == "skip" and status["data"] == "skip" and status["sft"] == "done"
    assert status["preference"] == "done"  # 1 pair >= --min-pairs 1: DPO from the SFT export
    trained = [c for c in stand_ins if c[0] in ("train", "export")]
    assert [c[2] for c in trained] == ["sft", "export-sft", "preference", "export-preference"]
    assert trained[2][3] == "r-r1-sft.q8_0"  # the preference run starts from the SFT export
    with pytest.raises(BadInput, match="exists with other tasks"):
        run_loop({"name": "r", "rounds": 1})  # the bundled task files, not the loop's


def test_loop_cli_show_and_list(fake_model, code_tasks, stand_ins):
    fake_model.default_reply = program("print(0)")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["loop", "--name", "c", "--tasks", str(code_tasks), "--samples", "1", "--max-rounds", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "ROUND  COLLECTED_BY" in result.stdout and "c-r1-sft.q8_0" in result.stdout  # the round's model
    assert "[round 1] sft: done" in result.stderr
    assert "current model: " in result.stdout and "stage wall seconds per round" in result.stdout
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
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    fake_model.default_reply = program("print(0)")
    monkeypatch.setattr(run_datasets, "build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        list(run_loop({"name": "k", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1}))
    state = load_state("k")
    assert state.status == "stopped" and state.seconds > 0
    assert state.rounds[0]["stages"]["collect-verify"]["status"] == "done"
    assert state.rounds[0]["stages"]["data"]["status"] == "running"  # redone on resume


def test_a_new_loop_lives_in_the_state_database(fake_model, code_tasks, stand_ins, llmdeck_home):
    fake_model.default_reply = program("print(0)")
    list(run_loop({"name": "db", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1}))
    conn = db.connect(llmdeck_home / "llmdeck.db")
    assert db.applied_versions(conn, "loops") == {1, 2}
    ((name, status),) = conn.execute("SELECT name, status FROM loops").fetchall()
    assert (name, status) == ("db", "completed")
    stages = conn.execute("SELECT stage, status FROM loop_stages WHERE loop = 'db' ORDER BY position").fetchall()
    assert [tuple(row) for row in stages][:3] == [
        ("collect-agent", "skipped"),
        ("collect-verify", "done"),
        ("data", "done"),
    ]
    assert (loop_dir("db") / "round-1" / "data" / "sft.jsonl").is_file()  # the data stays on disk
    assert not (loop_dir("db") / "state.json").exists()


def killed(config: dict, at) -> None:
    """Run the loop in a forked child that SIGKILLs itself at the first event `at` accepts: what is in the state
    database then is what a killed process leaves (no `finally`, nothing saved after that event)."""
    pid = os.fork()
    if pid == 0:
        try:
            for event in run_loop(config):
                if at(as_json(event)):
                    os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"the child ended with {status}"


def test_a_killed_loop_resumes_its_sweep_attempt_by_attempt(fake_model, code_tasks, stand_ins):
    fake_model.default_reply = program("print(0)")  # c0 passes, c1 fails
    config = {"name": "killed", "tasks": [str(code_tasks)], "samples": 2, "max_rounds": 1}
    killed(config, at=lambda event: event["type"] == "progress" and event["done"] == 3)
    state = load_state("killed")
    assert state.status == "running" and state.rounds[0]["stages"]["collect-verify"]["status"] == "running"
    events = [as_json(e) for e in run_loop(config)]
    sweep = [e["done"] for e in events if e["type"] == "progress" and e["stage"] == "collect-verify"]
    assert sweep == [4]  # the three attempts recorded before the kill are kept; only the fourth is made
    assert events[-1]["status"] == "completed" and events[-1]["rows"][0]["verify_pass"] == "2/4 (0.50)"


def test_a_loop_killed_while_training_resumes_the_same_run(fake_model, code_tasks, stand_ins, monkeypatch):
    from llmdeck.tuning import runs

    training = SimpleNamespace(
        id="run-1-sft",
        status="running",
        global_step=1,
        max_steps=4,
        pid=None,
        last_metrics={},
        error=None,
        created_at=1.0,
        started_at=1.0,
        finished_at=None,
    )
    resumed = []

    def resume(run_id):
        resumed.append(run_id)
        return SimpleNamespace(
            **{
                **vars(training),
                "status": "completed",
                "global_step": 4,
                "last_metrics": {"loss": 0.25},
                "finished_at": 2.0,
            }
        )

    monkeypatch.setattr(runs, "get", lambda run_id: training)
    monkeypatch.setattr(runs, "resume", resume)
    fake_model.default_reply = program("print(0)")
    config = {"name": "kt", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1}
    killed(config, at=lambda event: event["type"] == "progress" and event["stage"] == "sft")
    record = load_state("kt").rounds[0]["stages"]["sft"]
    assert record["status"] == "running" and record["run_id"] == "run-1-sft"
    training.status = "failed"  # what the run registry says of a run whose worker died with the loop
    events = [as_json(e) for e in run_loop(config)]
    assert resumed == ["run-1-sft"] and [c for c in stand_ins if c[0] == "train"] == []  # not launched again
    assert events[-1]["status"] == "completed"
    assert load_state("kt").rounds[0]["stages"]["sft"]["result"] == {
        "run_id": "run-1-sft",
        "steps": 4,
        "loss": 0.25,
        "seconds": 1.0,
    }


def test_the_state_json_of_an_older_loop_is_imported_once(fake_model, code_tasks, stand_ins, monkeypatch, tmp_path):
    fake_model.default_reply = program("print(0)")
    config = {"name": "old", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1}
    list(run_loop(config))
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["loop", "show", "old", "--json"]).stdout)
    derived = ("rows", "current_model", "current_reason", "curve", "stage_times")
    older = {key: value for key, value in shown.items() if key not in derived}  # what an older llmdeck wrote
    monkeypatch.setenv("LLMDECK_HOME", str(tmp_path / "older-home"))  # a home with the file and no loops table
    state_file = tmp_path / "older-home" / "loops" / "old" / "state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text(json.dumps(older, indent=2) + "\n")
    listed = json.loads(runner.invoke(cli, ["loop", "list", "--json"]).stdout)
    assert listed == [older]
    assert json.loads(runner.invoke(cli, ["loop", "show", "old", "--json"]).stdout) == shown
    assert not state_file.exists() and state_file.with_name("state.json.imported").is_file()
    state_file.write_text(json.dumps({**older, "status": "failed"}))  # a stale file again: the database row wins
    assert load_state("old").status == "completed" and [s.name for s in list_loops()] == ["old"]
    statuses = {e["status"] for e in map(as_json, run_loop(config)) if e["type"] == "stage"}
    assert statuses == {"skip"}  # the imported loop resumes: every stage was done


def test_a_damaged_state_json_is_named_in_the_error(monkeypatch, tmp_path):
    state_file = tmp_path / "llmdeck-home" / "loops" / "torn" / "state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text('{"name": "torn", ')
    result = CliRunner().invoke(cli, ["loop", "list"])
    assert result.exit_code == 1 and "torn/state.json: not a loop's state" in result.stderr
