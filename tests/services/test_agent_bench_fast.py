"""`llmdeck bench agents` on the scripted fake model: both models side by side on the held-out tasks only, each
number with n and a 95% interval, differences with a paired interval; model specs; the interval arithmetic."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.agents import attempts
from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput
from llmdeck.core.store import ModelStore
from llmdeck.services.agent_bench import Metric, paired_delta, parse_model
from llmdeck.services.eval_report import wilson


def test_wilson_and_paired_bootstrap_intervals():
    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert wilson(0, 0) == (None, None)
    first = Metric(0.5, 4, None, None, {"a": 0.0, "b": 1.0, "c": 0.0, "d": 1.0})
    better = Metric(1.0, 4, None, None, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0})
    delta = paired_delta(first, better)
    assert delta["value"] == 0.5 and delta["n"] == 4 and 0.0 <= delta["low"] <= 0.5 <= delta["high"] <= 1.0
    assert paired_delta(first, Metric(None, 0, None, None, {}))["value"] is None


def test_model_specs():
    assert parse_model("smollm2-135m-instruct").adapter is None
    spec = parse_model("smollm2-135m-instruct+sft-run")
    assert (spec.model, spec.adapter, spec.label) == (
        "smollm2-135m-instruct",
        "sft-run",
        "smollm2-135m-instruct+sft-run",
    )
    assert (parse_model("+sft-run").model, parse_model("+sft-run").adapter) == (None, "sft-run")
    with pytest.raises(BadInput, match="expected MODEL, MODEL\\+RUN or \\+RUN"):
        parse_model("smollm2-135m-instruct+")


def test_two_models_side_by_side_on_heldout_tasks(fake_model, tmp_path, copied_gguf):
    ModelStore().register(copied_gguf, name="other")
    tasks = tmp_path / "code.jsonl"
    tasks.write_text(
        "".join(
            json.dumps(row) + "\n"
            for row in [
                {"id": "train", "kind": "verify", "task": "Print 1.", "expect": "1", "split": "train"},
                {"id": "h1", "kind": "verify", "task": "Print 2.", "expect": "2", "split": "heldout"},
                {"id": "h2", "kind": "verify", "task": "Print 3.", "expect": "3", "split": "heldout"},
            ]
        )
    )
    program = "```python\nprint({})\n```"
    # first model: h1 right at once, h2 never; second: h1 right at once, h2 right in round 2
    fake_model.enqueue(
        program.format(2), program.format(0), program.format(0), program.format(2), program.format(0), program.format(3)
    )
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "agents",
            "--model",
            "smollm2-135m-instruct",
            "--model",
            "other",
            "--tasks",
            str(tasks),
            "--max-rounds",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    report = lines[-1]
    assert report["type"] == "report" and report["models"] == ["smollm2-135m-instruct", "other"]
    assert [(e["model"], e["task_id"]) for e in lines[:-1]] == [
        ("smollm2-135m-instruct", "h1"),
        ("smollm2-135m-instruct", "h2"),
        ("other", "h1"),
        ("other", "h2"),
    ]
    rows = {row["metric"]: row for row in report["rows"]}
    within = rows["verify pass within the rounds"]
    assert within["models"]["smollm2-135m-instruct"]["value"] == 0.5 and within["models"]["other"]["value"] == 1.0
    assert within["models"]["other"]["n"] == 2 and within["deltas"]["other"]["value"] == 0.5
    assert rows["verify pass@1 (first program)"]["models"]["other"]["value"] == 0.5
    assert rows["verify mean rounds"]["models"]["smollm2-135m-instruct"]["value"] == 1.5
    assert {a.split for a in attempts.attempts()} == {"heldout"}
    table = CliRunner().invoke(
        cli,
        [
            "bench",
            "agents",
            "--model",
            "smollm2-135m-instruct",
            "--model",
            "other",
            "--tasks",
            str(tasks),
            "--max-rounds",
            "2",
        ],
    )  # recorded: nothing runs again
    assert table.exit_code == 0, table.output
    assert "other - smollm2-135m-instruct" in table.stdout and "+0.500" in table.stdout
