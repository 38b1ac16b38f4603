"""The plan process's protocol (fast: served inline, with a stand-in plan): the form's data check, a plan's summary
read back whole and kept per config, a refusal raised again with its class, a request no longer wanted never
asked; and the app's side of it imports no heavy library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.tuning import plan_process, runs
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.plan_summary import summarize
from tests.tuning.test_plan_summary import launch_plan


@pytest.fixture
def planned(monkeypatch):
    """A stand-in `runs.plan` that counts its calls (the real one loads torch: slow tier)."""
    calls: list[TrainConfig] = []

    def plan(config):
        calls.append(config)
        if config.batch_size == 99:
            raise BadInput("estimated peak memory exceeds the memory available (batch_size 99)")
        return launch_plan()

    monkeypatch.setattr(runs, "plan", plan)
    yield calls
    plan_process.close_planner()


def test_a_plan_summary_reads_back_whole_and_is_kept_per_config(planned):
    assert not plan_process.uses_real_planner()
    config = TrainConfig(max_steps=5)
    summary = plan_process.plan_summary(config)
    assert summary == summarize(launch_plan())
    assert plan_process.plan_summary(TrainConfig(max_steps=5)) == summary  # the same fields: not planned again
    assert plan_process.cached_summary(config) == summary and len(planned) == 1
    assert planned[0] == config
    plan_process.plan_summary(TrainConfig(max_steps=6))
    assert len(planned) == 2


def test_a_refusal_keeps_its_class_and_is_asked_again(planned):
    with pytest.raises(BadInput, match="batch_size 99"):
        plan_process.plan_summary(TrainConfig(batch_size=99))
    with pytest.raises(BadInput):
        plan_process.plan_summary(TrainConfig(batch_size=99))
    assert len(planned) == 2 and plan_process.cached_summary(TrainConfig(batch_size=99)) is None


def test_a_request_no_longer_wanted_is_not_asked(planned):
    assert plan_process.plan_summary(TrainConfig(), wanted=lambda: False) is None
    assert planned == []


def test_the_data_check_lists_rows_and_refusals(planned, tmp_path):
    found = plan_process.call({"op": "check", "dataset": "", "format": "auto"})
    assert found is not None and found["ok"] and "34 rows, 34 valid, 0 bad" in found["text"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"instruction": "q", "output": ""}) + "\n" for _ in range(7)), encoding="utf-8")
    found = plan_process.call({"op": "check", "dataset": str(bad), "format": "alpaca"})
    assert found is not None and not found["ok"]
    assert "7 bad" in found["text"] and "... and 2 more bad rows" in found["text"]
    missing = plan_process.call({"op": "check", "dataset": str(tmp_path / "none.jsonl"), "format": "auto"})
    assert missing is not None and not missing["ok"] and "none.jsonl" in missing["text"]


@pytest.mark.slow  # a fresh interpreter importing the app: ~1.3 s of CPU
def test_the_apps_side_of_planning_imports_no_heavy_library(tmp_path):
    """The train screen, its form and the plan process's client, with a config keyed and the host made (not
    started), leave torch, transformers, trl and peft out of the process."""
    script = (
        "import sys, json\n"
        "import llmdeck.tui.app, llmdeck.tui.screens.train, llmdeck.tui.widgets.train_form\n"
        "from llmdeck.tuning import plan_process, runs\n"
        "from llmdeck.tuning.config import TrainConfig\n"
        "from llmdeck.tuning.config_fields import check_form, field_specs\n"
        "plan_process.config_key(TrainConfig()); host = plan_process.planner_host()\n"
        "assert plan_process.uses_real_planner() and type(host).__name__ == 'ModelProcess'\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env_home = {"LLMDECK_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **env_home}
    )
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert "llmdeck.tuning.plan_process" in loaded
    assert not {"torch", "transformers", "trl", "peft", "datasets", "llama_cpp"} & loaded
