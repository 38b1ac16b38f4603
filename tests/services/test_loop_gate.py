"""The loop's promotion gate, its per-round curve and its stage times, on the scripted fake model with training and
export replaced by the loop tests' stand-ins and the held-out comparison by a scripted bench (each model's
per-task verify pass@1 chosen by the test): a round is accepted only when its paired 95% interval is above zero,
a tie or a gain the interval does not confirm is rejected (the current model stays and the next round collects
with more samples at a higher temperature), `loop show` names the current model and why, and a loop killed
between the measuring stages resumes and decides the same."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.services import agent_bench
from llmdeck.services.eval_report import rate
from llmdeck.services.loop import (
    GATE_METRIC,
    STAGE_GROUPS,
    current_model,
    curve_rows,
    gate_decision,
    load_state,
    run_loop,
    stage_times,
)
from tests.services.test_loop_fast import MODEL, as_json, code_tasks, killed, program, stand_ins  # noqa: F401

PASS1 = "verify pass@1 (first program)"


def passes(count: int, n: int = 20) -> dict[str, float]:
    return {f"t{i}": float(i < count) for i in range(n)}


class ScriptedBench:
    """What `agent_bench.compare` returns, scripted: each model's held-out verify pass@1 per task."""

    def __init__(self, models: list[str], scores: dict[str, dict[str, float]]):
        self.models, self.scores = models, scores
        self.report = agent_bench.BenchReport(models=models, split="heldout")

    def __iter__(self):
        row = agent_bench.BenchRow(PASS1, True, {m: rate(self.scores[m]) for m in self.models})
        for label in self.models[1:]:
            row.deltas[label] = agent_bench.paired_delta(row.models[self.models[0]], row.models[label])
        self.report.rows = [row]
        yield agent_bench.BenchReported(**self.report.to_dict())

    def close(self) -> None:
        pass


@pytest.fixture
def scores(monkeypatch) -> dict[str, dict[str, float]]:
    """model name -> held-out task -> verify pass@1; what the scripted bench reports (and which models it was asked)."""
    found: dict[str, dict[str, float]] = {}
    asked: list[list[str]] = []

    def compare(models, **options):
        asked.append(list(models))
        return ScriptedBench(list(models), found)

    monkeypatch.setattr(agent_bench, "compare", compare)
    found["asked"] = asked  # type: ignore[assignment]
    return found


def test_the_gate_accepts_only_an_interval_above_zero():
    accepted = gate_decision(PASS1, passes(0), passes(15))
    assert accepted["decision"] == "accepted" and accepted["delta"]["value"] == 0.75 and accepted["delta"]["low"] > 0
    assert "the 95% interval is above zero" in accepted["reason"] and "over 20 items" in accepted["reason"]
    tie = gate_decision(PASS1, passes(10), passes(10))
    assert tie["decision"] == "rejected" and tie["delta"]["value"] == 0 and tie["reason"].endswith("a tie")
    unsure = gate_decision(PASS1, passes(10), passes(11))
    assert unsure["decision"] == "rejected" and unsure["delta"]["low"] <= 0 < unsure["delta"]["value"]
    assert unsure["reason"].endswith("the 95% interval reaches zero")
    worse = gate_decision(PASS1, passes(15), passes(0))
    assert worse["decision"] == "rejected" and worse["reason"].endswith("worse")
    fewer_rounds = gate_decision("verify mean rounds", {"a": 3.0, "b": 3.0, "c": 3.0}, {"a": 1.0, "b": 1.0, "c": 1.0})
    assert fewer_rounds["decision"] == "accepted" and fewer_rounds["delta"]["value"] == 2.0  # lower is better
    nothing = gate_decision(PASS1, {"a": 1.0}, {"b": 1.0})
    assert nothing["decision"] == "rejected" and nothing["delta"] is None


def test_a_tied_round_is_rejected_and_the_next_collects_harder_and_is_accepted(
    fake_model,
    code_tasks,  # noqa: F811
    stand_ins,  # noqa: F811
    scores,
):
    fake_model.default_reply = program("print(0)")
    scores.update({MODEL: passes(0), "g-r1-sft.q8_0": passes(0), "g-r2-sft.q8_0": passes(15)})
    config = {"name": "g", "tasks": [str(code_tasks)], "rounds": 2, "samples": 1, "max_rounds": 1}
    events = [as_json(e) for e in run_loop(config)]
    assert events[-1]["status"] == "completed"
    assert [row["gate"].split()[0] for row in events[-1]["rows"]] == ["rejected", "accepted"]
    state = load_state("g")
    assert current_model(state) == "g-r2-sft.q8_0"
    assert [r["model"] for r in state.rounds] == [MODEL, MODEL]  # the rejected round's model never collected
    assert scores["asked"] == [[MODEL, "g-r1-sft.q8_0"], [MODEL, "g-r2-sft.q8_0"]]  # base (= current), candidate
    collected = [r["stages"]["collect-verify"]["result"] for r in state.rounds]
    assert [(c["samples"], c["temperature"]) for c in collected] == [(1, 0.6), (2, 0.8)]  # escalated
    gate = state.rounds[0]["stages"]["gate"]["result"]
    assert gate["current"] == MODEL and gate["metric"] == GATE_METRIC and gate["reason"].endswith("a tie")

    curve = curve_rows(state)
    assert [(row["round"], row["model"], row["gate"]) for row in curve] == [
        (0, MODEL, None),
        (1, "g-r1-sft.q8_0", "rejected"),
        (2, "g-r2-sft.q8_0", "accepted"),
    ]
    assert [row[PASS1]["value"] for row in curve] == [0.0, 0.0, 0.75]
    assert all(row[PASS1]["low"] <= row[PASS1]["value"] <= row[PASS1]["high"] for row in curve)
    assert [row["humaneval pass@1"]["value"] for row in curve] == [0.3333, 0.6667, 0.3333]
    assert [row["text perplexity"]["value"] for row in curve] == [10.0, 9.5, 9.5]
    measured = [c[1] for c in stand_ins if c[0] == "humaneval"]
    assert measured == [MODEL, "g-r1-sft.q8_0", "g-r2-sft.q8_0"]  # each model once: the base is reused

    document = json.loads(CliRunner().invoke(cli, ["loop", "show", "g", "--json"]).stdout)
    assert document["current_model"] == "g-r2-sft.q8_0"
    assert document["current_reason"].startswith("round 2 accepted: held-out score +0.750")
    result = CliRunner().invoke(cli, ["loop", "show", "g"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "current model: g-r2-sft.q8_0 (round 2 accepted" in result.stdout
    assert "rejected +0.000 [+0.000, +0.000]" in result.stdout  # the tie, with its interval
    assert "0.750 [0.531, 0.888]" in result.stdout  # the curve: Wilson 95% of 15/20
    listed = CliRunner().invoke(cli, ["loop", "list"]).stdout
    assert "CURRENT" in listed and listed.splitlines()[1].split()[-2] == "g-r2-sft.q8_0"


def test_every_stage_records_its_wall_time(fake_model, code_tasks, stand_ins, scores):  # noqa: F811
    fake_model.default_reply = program("print(0)")
    scores.update({MODEL: passes(0), "w-r1-sft.q8_0": passes(0)})
    list(run_loop({"name": "w", "tasks": [str(code_tasks)], "samples": 1, "max_rounds": 1}))
    state = load_state("w")
    assert all(isinstance(record.get("seconds"), float) for record in state.rounds[0]["stages"].values())
    (row,) = stage_times(state)
    assert set(STAGE_GROUPS) <= set(row) and row["total"] > 0 and row["dominant"] in STAGE_GROUPS
    assert row["total"] == pytest.approx(sum(row[g] for g in STAGE_GROUPS), abs=0.2)
    text = CliRunner().invoke(cli, ["loop", "show", "w"]).stdout
    assert "stage wall seconds per round" in text and "DOMINANT" in text
    assert current_model(state) == MODEL  # a tie at 0: rejected


def test_a_loop_killed_between_measuring_stages_resumes_and_decides(fake_model, code_tasks, stand_ins, scores):  # noqa: F811
    fake_model.default_reply = program("print(0)")
    scores.update({MODEL: passes(0), "k-r1-sft.q8_0": passes(15), "k-r2-sft.q8_0": passes(20)})
    config = {"name": "k", "tasks": [str(code_tasks)], "rounds": 2, "samples": 1, "max_rounds": 1}

    def after_transfer_of_round_2(event) -> bool:
        return event["type"] == "stage" and event == {**event, "round": 2, "stage": "transfer", "status": "done"}

    killed(config, at=after_transfer_of_round_2)
    state = load_state("k")
    assert current_model(state) == "k-r1-sft.q8_0" and "gate" not in state.rounds[1]["stages"]
    events = [as_json(e) for e in run_loop(config)]
    redone = [(e["round"], e["stage"]) for e in events if e["type"] == "stage" and e["status"] == "done"]
    assert redone == [(2, "gate")]  # only the stage that had not finished
    assert current_model(load_state("k")) == "k-r2-sft.q8_0"


def test_a_gate_metric_that_is_not_measured_is_refused_in_one_line(fake_model, code_tasks):  # noqa: F811
    result = CliRunner().invoke(cli, ["loop", "--name", "x", "--tasks", str(code_tasks), "--gate-metric", "vibes"])
    assert result.exit_code == 2 and "--gate-metric 'vibes': expected one of held-out score" in result.stderr
    result = CliRunner().invoke(
        cli, ["loop", "--name", "x", "--gate-metric", "humaneval pass@1", "--no-transfer", "--tasks", str(code_tasks)]
    )
    assert result.exit_code == 2 and "drop --no-transfer" in result.stderr


def test_task_files_without_held_out_tasks_are_promoted_ungated_and_say_so(fake_model, tmp_path, stand_ins):  # noqa: F811
    path = tmp_path / "train-only.jsonl"
    rows = [{"id": f"c{n}", "kind": "verify", "task": f"Print {n}.", "expect": str(n), "split": "train"} for n in "01"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fake_model.default_reply = program("print(0)")
    list(run_loop({"name": "u", "tasks": [str(path)], "samples": 1, "max_rounds": 1}))
    state = load_state("u")
    assert state.status == "completed" and state.rounds[0]["stages"]["evaluate"]["status"] == "skipped"
    gate = state.rounds[0]["stages"]["gate"]["result"]
    assert gate["decision"] == "accepted" and "no held-out task" in gate["reason"]
    assert current_model(state) == "u-r1-sft.q8_0"
