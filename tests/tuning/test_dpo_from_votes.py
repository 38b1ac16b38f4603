"""Arena votes -> `data from-votes` -> a real DPO run on the tiny model (slow: a training subprocess)."""

from __future__ import annotations

import pytest

from llmdeck.services import arena
from llmdeck.services.agent_bench import parse_model
from llmdeck.tuning import runs
from tests.tuning.test_runs import tiny_config


@pytest.mark.slow
def test_voted_pairs_train_a_dpo_step(tiny_model_dir, tmp_path):
    match = arena.Matchup("Capital of France?", parse_model("base"), parse_model("base+run"))
    arena.record_vote(match, "Paris.", "Rome, I think.", "left")
    arena.record_vote(arena.Matchup("2+2?", match.right, match.left), "4", "five", "left")
    arena.record_vote(match, "Hi", "Hello", "tie")  # left out
    export = arena.write_preference(tmp_path / "votes")
    run = runs.launch(tiny_config(tiny_model_dir, method="dpo", dataset=str(export.path), max_steps=2))[0]
    finished = runs.wait_for(run.id, timeout_s=180)
    assert finished.status == "completed", f"{finished.error}\n{runs.log_path(run.id).read_text()[-3000:]}"
    assert finished.global_step == 2 and "rewards/margins" in runs.metrics(run.id)[-1]
