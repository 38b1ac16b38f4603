"""Real training runs on a tiny random-init Llama (real SmolLM2 tokenizer), each in its own worker process."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.tuning.conftest import first_last_mean, write_jsonl
from llmdeck.tuning import data, runs
from llmdeck.tuning.config import build_config
from llmdeck.tuning.registry import Registry

pytestmark = pytest.mark.slow  # real training runs in worker processes


def tiny_config(model_dir, **overrides):
    values = {"base_model": str(model_dir), "max_length": 64, "batch_size": 2, "learning_rate": 5e-3,
              "warmup_ratio": 0.0, "lr_scheduler": "constant", "save_steps": 1000, "lora_r": 8, "lora_alpha": 16}
    values.update(overrides)
    return build_config(values)


def wait_until(predicate, timeout_s=120, poll_s=0.2):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError("timed out")


def test_sft_dpo_orpo_complete_and_loss_decreases(tiny_model_dir):
    """The three methods run side by side; each completes, writes metrics and an adapter, and learns."""
    launched = {
        "sft": runs.launch(tiny_config(tiny_model_dir, method="sft", max_steps=12, eval_split=0.1, eval_steps=6))[0],
        "dpo": runs.launch(tiny_config(tiny_model_dir, method="dpo", max_steps=8, learning_rate=1e-2))[0],
        "orpo": runs.launch(tiny_config(tiny_model_dir, method="orpo", max_steps=8))[0],
    }
    for method, run in launched.items():
        finished = runs.wait_for(run.id, timeout_s=180)
        log = runs.log_path(run.id).read_text()
        assert finished.status == "completed", f"{method}: {finished.error}\n{log[-3000:]}"
        rows = [row for row in runs.metrics(run.id) if "loss" in row]
        assert [row["step"] for row in rows] == list(range(1, len(rows) + 1)) and len(rows) == finished.global_step
        first, last = first_last_mean([row["loss"] for row in rows])
        assert last < first, f"{method}: loss did not fall: {[row['loss'] for row in rows]}"
        assert all(row["learning_rate"] > 0 and row["grad_norm"] >= 0 for row in rows)
        assert (finished.path / "adapter" / "adapter_config.json").exists()
        assert list((finished.path / "tensorboard").glob("events.out.tfevents.*"))
        assert (finished.path / "config.yaml").read_text().startswith("name:")
    sft_rows = runs.metrics(launched["sft"].id)
    assert any("eval_loss" in row for row in sft_rows)
    for method in ("sft", "dpo", "orpo"):  # ORPO batches carry chosen_/rejected_ ids, counted by llmdeck's subclass
        train_rows = [row for row in runs.metrics(launched[method].id) if "loss" in row]
        assert all(row["tokens_per_s"] > 0 and row["tokens_seen"] > 0 for row in train_rows), method
    assert "rewards/margins" in runs.metrics(launched["dpo"].id)[-1]


def test_stop_then_resume_keeps_step_and_optimizer(tiny_model_dir, cli):
    run, _ = runs.launch(tiny_config(tiny_model_dir, max_steps=400, batch_size=1, max_length=32))
    wait_until(lambda: runs.get(run.id).global_step >= 2)
    result = cli("runs", "stop", run.id, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    stopped = json.loads(result.stdout)
    assert stopped["status"] == "stopped", stopped["error"]
    step = stopped["global_step"]
    checkpoint = stopped["checkpoints"][-1]
    assert checkpoint.endswith(f"checkpoint-{step}") and 2 <= step < 400
    assert os.path.exists(os.path.join(checkpoint, "optimizer.pt")) and os.path.exists(os.path.join(checkpoint, "scheduler.pt"))
    assert not (runs.get(run.id).path / "adapter").exists()
    # resume, then stop again shortly after: steps continue from the checkpoint, not from 0
    resumed = runs.resume(run.id)
    assert resumed.status in ("queued", "running")
    wait_until(lambda: [r for r in runs.metrics(run.id) if r["step"] > step])
    os.kill(runs.get(run.id).pid, signal.SIGTERM)  # a plain SIGTERM is a graceful stop too
    runs.wait_for(run.id, timeout_s=120)
    rows = runs.metrics(run.id)
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps[: step] == list(range(1, step + 1))
    assert steps[step] == step + 1, f"resume restarted at {steps[step]} instead of {step + 1}"
    lr_after = [r["learning_rate"] for r in rows if r["step"] > step]
    assert lr_after and all(lr == pytest.approx(5e-3) for lr in lr_after)
    final = runs.get(run.id)
    assert final.status == "stopped" and final.checkpoints()[-1].name == f"checkpoint-{final.global_step}"


def test_sigkill_is_detected_and_the_run_resumes(tiny_model_dir, cli):
    run, _ = runs.launch(tiny_config(tiny_model_dir, max_steps=10, batch_size=1, max_length=32, save_steps=3))
    wait_until(lambda: runs.get(run.id).checkpoints(), timeout_s=120)
    os.killpg(runs.get(run.id).pid, signal.SIGKILL)
    dead = wait_until(lambda: (r := runs.get(run.id)).status == "failed" and r, timeout_s=30)
    assert "died without reporting" in dead.error and "runs resume" in dead.error
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [r["status"] for r in listed if r["id"] == run.id] == ["failed"]
    saved_step = int(dead.checkpoints()[-1].name.split("-")[1])
    result = cli("runs", "resume", run.id, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    assert finished["status"] == "completed" and finished["global_step"] == 10 and finished["adapter"]
    steps = [r["step"] for r in runs.metrics(run.id) if "loss" in r]
    assert steps == list(range(1, 11))  # rows logged after the checkpoint were dropped, then trained again


def test_cli_train_wait_and_runs_commands(tiny_model_dir, cli, tmp_path):
    result = cli("train", "--base-model", str(tiny_model_dir), "--max-steps", "3", "--max-length", "32",
                 "--batch-size", "2", "--name", "cli-run", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    run_id = document["run"]["id"]
    sample_rows = sum(1 for line in data.bundled_sample().read_text().splitlines() if line.strip())
    assert document["run"]["status"] == "completed" and document["plan"]["data"]["valid"] == sample_rows
    redraws = [line for line in result.stderr.splitlines() if line.startswith("[")]  # text mode: "\r" reads as a newline
    assert "] 3/3" in redraws[-1] and "completed" in redraws[-1] and "loss" in redraws[-1]
    shown = cli("runs", "show", "cli-run")
    assert shown.returncode == 0 and "completed" in shown.stdout and "checkpoint-3" in shown.stdout
    metric_lines = [json.loads(line) for line in cli("runs", "metrics", run_id, "--json").stdout.splitlines()]
    assert [m["step"] for m in metric_lines if "loss" in m] == [1, 2, 3]
    assert "llmdeck worker" in cli("runs", "logs", run_id).stdout
    assert "completed" in cli("runs", "logs", run_id, "--follow").stdout
    assert cli("runs", "stop", run_id).returncode == 2
    assert cli("runs", "resume", run_id).returncode == 2
    assert cli("runs", "rm", run_id).returncode == 0
    missing = cli("runs", "show", run_id)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_bad_rows_stop_a_launch_before_any_model_loads(tiny_model_dir, cli, tmp_path, llmdeck_home):
    path = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": ""}])
    result = cli("train", "--base-model", str(tiny_model_dir), "--dataset", str(path))
    assert result.returncode == 2 and "1 bad row(s), first at d.jsonl:2: output: empty" in result.stderr
    assert not list((llmdeck_home / "runs").glob("*")) and Registry().list() == []
    skipped = cli("train", "--base-model", str(tiny_model_dir), "--dataset", str(path), "--skip-bad", "--dry-run", "--json")
    assert json.loads(skipped.stdout)["data"]["bad_count"] == 1


def test_accelerate_two_cpu_processes(tiny_model_dir):
    run, _ = runs.launch(tiny_config(tiny_model_dir, max_steps=3, launcher="accelerate", num_processes=2))
    finished = runs.wait_for(run.id, timeout_s=180)
    log = runs.log_path(run.id).read_text()
    assert finished.status == "completed", f"{finished.error}\n{log[-3000:]}"
    assert log.count("llmdeck worker: run") >= 4  # two ranks started and finished
    rows = [r for r in runs.metrics(run.id) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]  # only rank 0 writes metrics
    assert (finished.path / "adapter" / "adapter_model.safetensors").exists()


def test_accelerate_stop_reaches_both_ranks_then_resumes(tiny_model_dir):
    """A stop under `accelerate launch`: both ranks leave at the same step, one checkpoint, resume continues."""
    run, _ = runs.launch(tiny_config(tiny_model_dir, max_steps=400, batch_size=1, max_length=32,
                                     launcher="accelerate", num_processes=2))
    wait_until(lambda: runs.get(run.id).global_step >= 2, timeout_s=180)
    stopped = runs.stop(run.id, wait=True, timeout_s=180)
    log = runs.log_path(run.id).read_text()
    assert stopped.status == "stopped", f"{stopped.error}\n{log[-3000:]}"
    step = stopped.global_step
    assert 2 <= step < 400 and stopped.checkpoints()[-1].name == f"checkpoint-{step}"
    resumed = runs.resume(run.id)
    assert resumed.status in ("queued", "running")
    wait_until(lambda: [r for r in runs.metrics(run.id) if r["step"] > step], timeout_s=180)
    final = runs.stop(run.id, wait=True, timeout_s=180)
    assert final.status == "stopped" and final.global_step > step
    steps = [r["step"] for r in runs.metrics(run.id) if "loss" in r]
    assert steps == list(range(1, final.global_step + 1)), steps  # no step lost or repeated across the resume
