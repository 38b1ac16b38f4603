"""End to end on the embedded SmolLM2-135M-Instruct GGUF (dequantized by transformers) with the bundled sample."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from tests.tuning.conftest import first_last_mean


@pytest.mark.slow
def test_sft_lora_on_embedded_smollm2(cli, tmp_path):
    # four sample rows in one batch: every step sees the same tokens, so the loss must fall
    result = cli(
        "train",
        "--config",
        str(REPO_ROOT / "configs" / "sft-lora-smollm2.yaml"),
        "--max-steps",
        "4",
        "--max-length",
        "128",
        "--max-samples",
        "4",
        "--batch-size",
        "4",
        "--eval-split",
        "0",
        "--save-steps",
        "4",
        "--learning-rate",
        "1e-3",
        "--lr-scheduler",
        "constant",
        "--wait",
        "--json",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout)["run"]
    assert run["status"] == "completed" and run["global_step"] == 4
    assert run["base_model"] == "smollm2-135m-instruct"
    adapter_config = json.loads(open(run["adapter"] + "/adapter_config.json").read())
    assert adapter_config["r"] == 16 and adapter_config["peft_type"] == "LORA"
    losses = [
        row["loss"]
        for row in map(json.loads, cli("runs", "metrics", run["id"], "--json").stdout.splitlines())
        if "loss" in row
    ]
    assert len(losses) == 4 and all(0 < loss < 6 for loss in losses)  # a trained model, not random init (~10.8)
    assert losses[-1] < losses[0] and min(losses[1:]) < losses[0], losses


@pytest.mark.gpu
def test_qlora_trains_with_finite_falling_loss_on_gpu(request):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    tiny_model_dir = request.getfixturevalue("tiny_model_dir")  # built only where the test runs
    import math

    from llmdeck.tuning import runs
    from llmdeck.tuning.config import build_config

    config = build_config(
        {
            "base_model": str(tiny_model_dir),
            "tuning": "qlora",
            "max_steps": 10,
            "max_length": 64,
            "batch_size": 2,
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0,
        }
    )
    run, _ = runs.launch(config)
    finished = runs.wait_for(run.id, timeout_s=300)
    assert finished.status == "completed", finished.error
    losses = [row["loss"] for row in runs.metrics(run.id) if "loss" in row]
    assert all(math.isfinite(loss) for loss in losses)
    first, last = first_last_mean(losses)
    assert last < first
