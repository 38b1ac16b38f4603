"""Stop and resume for every trainer family that resumes: a stop asked for while the worker loads is honoured at
the end of step 1 with a checkpoint; `runs resume` continues from that step (step 1 is not trained twice) and
finishes with the run's artifact. Tiny random Llama (real SmolLM2 tokenizer) for the decoder methods, the
embedded all-MiniLM-L6-v2 for the encoder heads. grpo, mlm, sft and accelerate stop mid-run in their own tests."""

from __future__ import annotations

import json

import pytest

from llmdeck.tuning import runs
from llmdeck.tuning.config import build_config
from tests.tuning.test_more_methods import finished, training_rows
from tests.tuning.test_runs import tiny_config

pytestmark = pytest.mark.slow  # real training in worker processes

STEPS = 3
DECODER_RUNS = {  # config overrides on the tiny Llama, and the peft type the artifact must hold
    "kto": ({"method": "kto"}, "LORA"),
    "reward": ({"method": "reward", "max_length": 128}, "LORA"),
    "dpo": ({"method": "dpo"}, "LORA"),
    "orpo": ({"method": "orpo"}, "LORA"),
    "rloo": ({"method": "rloo", "reward_regex": r"\d", "num_generations": 2, "max_completion_length": 4}, "LORA"),
    "dora": ({"tuning": "dora"}, "LORA"),
    "ia3": ({"tuning": "ia3"}, "IA3"),
    "prompt": ({"tuning": "prompt", "num_virtual_tokens": 8}, "PROMPT_TUNING"),
    "prefix": ({"tuning": "prefix", "num_virtual_tokens": 8}, "PREFIX_TUNING"),
}
ENCODER_RUNS = {"token-cls": "token-cls", "extractive-qa": "extractive-qa"}


def same_adapter_weights(first, second) -> list[str]:
    """Names of the adapter tensors that differ between two finished runs."""
    import torch
    from safetensors.torch import load_file

    a, b = (load_file(run.path / "adapter" / "adapter_model.safetensors") for run in (first, second))
    assert a.keys() == b.keys()
    return [name for name in a if not torch.allclose(a[name].float(), b[name].float(), atol=1e-5, rtol=1e-4)]


def launch_with_twin(config) -> tuple[runs.Run, runs.Run]:
    """The run to stop and resume, and its twin: the same config trained without a stop, at the same time (both are
    `parallel`), so the test waits for one worker's start-up and imports instead of three in a row."""
    twin = runs.launch(config)[0]
    return runs.launch(config)[0], twin


def assert_same_as_uninterrupted(done, twin) -> None:
    """The same config trained without a stop ends with the same weights: the resume restored the adapter and any
    new head, the optimizer, the schedule, the data order and the random state (and the seed fixed the init)."""
    differing = same_adapter_weights(done, finished(twin))
    assert not differing, (
        f"{done.method}: the resumed run's weights differ from an uninterrupted run's: {differing[:5]}"
    )


def stop_at_step_one_then_resume(run) -> runs.Run:
    """Stop before the first step ends, check the checkpoint, resume, and return the finished run."""
    runs.stop(run.id)  # the flag is read at the end of every step: step 1 saves a checkpoint and leaves the loop
    stopped = runs.wait_for(run.id, timeout_s=300)
    log = runs.log_path(run.id).read_text()
    assert stopped.status == "stopped", f"{stopped.error}\n{log[-3000:]}"
    assert stopped.global_step == 1 and [path.name for path in stopped.checkpoints()] == ["checkpoint-1"], log[-3000:]
    assert not (stopped.path / "adapter").exists()  # no artifact from a stopped run
    assert [row["step"] for row in training_rows(run.id)] == [1]

    resumed = runs.resume(run.id)
    assert resumed.status in ("queued", "running") and resumed.global_step == 1
    done = finished(run)
    steps = [row["step"] for row in training_rows(run.id)]
    assert steps == list(range(1, STEPS + 1)), f"resume restarted instead of continuing from step 1: {steps}"
    assert done.global_step == STEPS
    assert f"run {run.id} (resume)" in runs.log_path(run.id).read_text()
    return done


@pytest.mark.parametrize("name", list(DECODER_RUNS))
def test_decoder_methods_resume_from_their_checkpoint_and_finish(tiny_model_dir, name):
    overrides, peft_type = DECODER_RUNS[name]
    config = tiny_config(tiny_model_dir, max_steps=STEPS, parallel=True, **overrides)
    run, twin = launch_with_twin(config)
    done = stop_at_step_one_then_resume(run)
    adapter = json.loads((done.path / "adapter" / "adapter_config.json").read_text())
    assert adapter["peft_type"] == peft_type
    assert_same_as_uninterrupted(done, twin)


@pytest.mark.parametrize("method", list(ENCODER_RUNS))
def test_encoder_heads_resume_from_their_checkpoint_and_finish(method):
    config = build_config(
        {"method": method, "max_steps": STEPS, "batch_size": 2, "max_length": 64, "save_steps": 1000, "parallel": True}
    )
    run, twin = launch_with_twin(config)
    done = stop_at_step_one_then_resume(run)
    task = json.loads((done.path / "adapter" / "task.json").read_text())
    assert task["task"] == method
    assert_same_as_uninterrupted(done, twin)
