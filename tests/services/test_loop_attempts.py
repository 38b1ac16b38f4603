"""The loop's use of each attempt (issue 24 item 4) on the scripted fake model, with training and export replaced by
the stand-ins of test_loop_fast: best of n with n growing for a task never verified in an earlier round, the data
stage counting repair rows, and the GRPO stage: skipped on CPU under `--rl auto` with the measured seconds per
step, run under `--rl grpo` with the verifier as the reward on the train coding tasks."""

from __future__ import annotations

import json

from llmdeck.agents import attempts
from llmdeck.services.loop import GRPO_CPU_SECONDS_PER_STEP, LoopConfig, LoopResponse, load_state, run_loop
from llmdeck.services.loop_state import LoopState
from tests.services.test_loop_fast import as_json, code_tasks, program, stand_ins  # noqa: F401 (fixtures)


def test_a_task_never_verified_gets_more_attempts_in_the_next_round(fake_model, code_tasks, stand_ins):  # noqa: F811
    fake_model.default_reply = program("print(0)")  # c0 passes every time, c1 never
    config = {
        "name": "grow",
        "tasks": [str(code_tasks)],
        "rounds": 2,
        "samples": 1,
        "unsolved_growth": 3,
        "max_task_samples": 2,
        "max_rounds": 1,
        "evaluate": False,
    }
    events = [as_json(e) for e in run_loop(config)]
    assert events[-1]["status"] == "completed"
    state = load_state("grow")
    assert [attempted(entry) for entry in state.rounds] == [{"c0": 1, "c1": 1}, {"c0": 1, "c1": 2}]  # 3 capped at 2
    result = state.rounds[1]["stages"]["collect-verify"]["result"]
    assert (result["grown_tasks"], result["max_task_samples"]) == (1, 2)
    assert state.rounds[0]["stages"]["data"]["result"]["repair_rows"] == 0  # one round per attempt: nothing to repair


def attempted(entry: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for attempt in attempts.attempts(collections=entry["stages"]["collect-verify"]["result"]["collections"]):
        counts[attempt.task_id] = counts.get(attempt.task_id, 0) + 1
    return counts


def test_n_grows_once_per_unsolved_round_and_resets_once_solved():
    history = {1: {"a": [False], "b": [False], "c": [True]}, 2: {"a": [False, False], "b": [False, True], "c": [True]}}
    state = LoopState(name="n", config={})
    for number, outcome in history.items():
        for task, passes in outcome.items():
            for sample, passed in enumerate(passes):
                attempts.add(f"n-r{number}", task, sample, f"run-{number}-{task}-{sample}", "verify", "t", "train",
                             {"passed": passed}, "m")  # fmt: skip
        result = {"collections": [f"n-r{number}"]}
        state.rounds.append({"round": number, "model": "m", "stages": {"collect-verify": {"result": result}}})
    loop = LoopResponse(state=state, config=LoopConfig(samples=2, unsolved_growth=2, max_task_samples=16))
    assert loop.task_samples("verify", 3, 2, ["a", "b", "c", "new"]) == {"a": 8}  # 2 x 2^2; b was solved in round 2
    assert loop.task_samples("verify", 2, 2, ["a", "b", "c"]) == {"a": 4, "b": 4}
    assert LoopResponse(state=state, config=LoopConfig(unsolved_growth=1)).task_samples("verify", 3, 3, ["a"]) == {}


def test_rl_auto_is_skipped_on_cpu_with_the_measured_step_time(fake_model, code_tasks, stand_ins):  # noqa: F811
    fake_model.default_reply = program("print(0)")
    config = {"name": "cpu", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1, "evaluate": False}
    events = [as_json(e) for e in run_loop(config)]
    (note,) = [e["detail"] for e in events if e["type"] == "progress" and e["stage"] == "rl"]
    assert note.startswith("skipped: no CUDA device") and f"{GRPO_CPU_SECONDS_PER_STEP:.0f} s per step" in note
    stages = load_state("cpu").rounds[0]["stages"]
    assert stages["rl"]["status"] == "skipped" and "--rl grpo" in note
    assert [c for c in stand_ins if c[0] == "train" and c[2] == "rl"] == []


def test_rl_grpo_trains_on_the_train_coding_tasks_with_the_verifier_reward(
    fake_model,
    code_tasks,  # noqa: F811
    stand_ins,  # noqa: F811
    monkeypatch,
):
    from llmdeck.tuning import runs

    launched = []
    stand_in = runs.launch
    monkeypatch.setattr(runs, "launch", lambda config: (launched.append(config), stand_in(config))[1])
    fake_model.default_reply = program("print(0)")
    config = {
        "name": "gpu",
        "tasks": [str(code_tasks)],
        "samples": 1,
        "max_rounds": 1,
        "evaluate": False,
        "rl": "grpo",
        "rl_num_generations": 2,
        "rl_max_steps": 3,
    }
    events = [as_json(e) for e in run_loop(config)]
    assert events[-1]["status"] == "completed"
    (grpo,) = [c for c in launched if c.method == "grpo"]
    assert grpo.base_model == "gpu-r1-sft.q8_0" and grpo.reward_fn.endswith("agents/rewards.py:verify_reward")
    assert (grpo.num_generations, grpo.batch_size, grpo.max_steps) == (2, 2, 3)
    rows = [json.loads(line) for line in open(grpo.dataset)]
    assert [json.loads(r["answer"])["expect"] for r in rows] == ["0", "1"]  # the train tasks; the held-out one never
    state = load_state("gpu")
    assert state.rounds[0]["output"] == "gpu-r1-grpo.q8_0"  # the round's model is the GRPO export
    assert state.rounds[0]["stages"]["rl"]["result"]["prompts"] == 2
