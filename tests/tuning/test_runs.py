"""Real training runs on a tiny random-init Llama (real SmolLM2 tokenizer), each in its own worker process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from llmdeck.services.run_diff import diff_runs
from llmdeck.tuning import data, runs
from llmdeck.tuning.config import build_config
from llmdeck.tuning.data_record import file_sha256, read_record
from llmdeck.tuning.registry import Registry
from tests.tuning.conftest import first_last_mean, write_jsonl

pytestmark = pytest.mark.slow  # real training runs in worker processes


def tiny_config(model_dir, **overrides):
    values = {
        "base_model": str(model_dir),
        "max_length": 64,
        "batch_size": 2,
        "learning_rate": 5e-3,
        "warmup_ratio": 0.0,
        "lr_scheduler": "constant",
        "save_steps": 1000,
        "lora_r": 8,
        "lora_alpha": 16,
        "allow_truncation": True,
    }
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
    # each launch recorded what it trained on; `runs diff` tells the sft sample from the dpo one
    record = read_record(launched["sft"].path)
    assert record["rows"] >= record["valid"] > 0
    [data_file] = record["files"]
    assert data_file["sha256"] == file_sha256(Path(data_file["path"])) and data_file["bytes"] > 0
    rows = {(row.section, row.field): row for row in diff_runs(launched["sft"].id, launched["dpo"].id).rows}
    assert rows[("run", "method")].differs and rows[("data", "sha256")].differs
    assert rows[("config", "learning_rate")].differs and not rows[("config", "lora_r")].differs


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
    assert os.path.exists(os.path.join(checkpoint, "optimizer.pt")) and os.path.exists(
        os.path.join(checkpoint, "scheduler.pt")
    )
    assert not (runs.get(run.id).path / "adapter").exists()
    # resume, then stop again shortly after: steps continue from the checkpoint, not from 0
    resumed = runs.resume(run.id)
    assert resumed.status in ("queued", "running")
    wait_until(lambda: [r for r in runs.metrics(run.id) if r["step"] > step])
    os.kill(runs.get(run.id).pid, signal.SIGTERM)  # a plain SIGTERM is a graceful stop too
    runs.wait_for(run.id, timeout_s=120)
    rows = runs.metrics(run.id)
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps[:step] == list(range(1, step + 1))
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
    with (dead.path / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 4, "lo')  # the kill came mid-write
    assert "died without reporting" in dead.error and "runs resume" in dead.error
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [r["status"] for r in listed if r["id"] == run.id] == ["failed"]
    result = cli("runs", "resume", run.id, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    assert finished["status"] == "completed" and finished["global_step"] == 10 and finished["adapter"]
    steps = [r["step"] for r in runs.metrics(run.id) if "loss" in r]
    assert steps == list(range(1, 11))  # rows logged after the checkpoint were dropped, then trained again


def test_cli_train_wait_and_runs_commands(tiny_model_dir, cli, tmp_path):
    result = cli(
        "train",
        "--base-model",
        str(tiny_model_dir),
        "--max-steps",
        "3",
        "--max-length",
        "32",
        "--batch-size",
        "2",
        "--name",
        "cli-run",
        "--allow-truncation",
        "--wait",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    run_id = document["run"]["id"]
    sample_rows = sum(1 for line in data.bundled_sample().read_text().splitlines() if line.strip())
    assert document["run"]["status"] == "completed" and document["plan"]["data"]["valid"] == sample_rows
    redraws = [
        line for line in result.stderr.splitlines() if line.startswith("[")
    ]  # text mode: "\r" reads as a newline
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
    skipped = cli(
        "train", "--base-model", str(tiny_model_dir), "--dataset", str(path), "--skip-bad", "--dry-run", "--json"
    )
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
    run, _ = runs.launch(
        tiny_config(tiny_model_dir, max_steps=400, batch_size=1, max_length=32, launcher="accelerate", num_processes=2)
    )
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


def _training_rows(run_id):
    return [row for row in runs.metrics(run_id) if "loss" in row]


def test_run_queue_relative_paths_phases_warmup_and_a_readable_log(tiny_model_dir, cli, tmp_path):
    """Two launches at once on one device: the second waits in the queue; --parallel opts out."""
    write_jsonl(tmp_path / "data.jsonl", [{"instruction": f"Say {i}", "output": f"{i}!"} for i in range(16)])
    common = [
        "--base-model",
        str(tiny_model_dir),
        "--dataset",
        "data.jsonl",
        "--max-length",
        "64",
        "--batch-size",
        "2",
        "--learning-rate",
        "1e-3",
        "--json",
    ]
    first = cli("train", *common, "--max-steps", "40", cwd=tmp_path)
    second = cli("train", *common, "--max-steps", "2", cwd=tmp_path)
    third = cli("train", *common, "--max-steps", "2", "--parallel", cwd=tmp_path)  # default warmup_ratio 0.03: < 1 step
    ids = [json.loads(result.stdout)["run"]["id"] for result in (first, second, third)]
    assert all(result.returncode == 0 for result in (first, second, third)), second.stderr
    first_run = runs.get(ids[0])
    assert first_run.config["dataset"] == str(tmp_path / "data.jsonl") and first_run.dataset == str(
        tmp_path / "data.jsonl"
    )
    seen_waiting = wait_until(
        lambda: (
            (r := runs.get(ids[1])).status == "queued" and (r.phase or "").startswith("queued: waiting for run") and r
        )
    )
    assert ids[0] in seen_waiting.phase
    listed = cli("runs", "list")
    assert "queued: waiting for run" in listed.stdout
    fourth = json.loads(cli("train", *common, "--max-steps", "2", cwd=tmp_path).stdout)["run"]["id"]
    wait_until(lambda: (runs.get(fourth).phase or "").startswith("queued: waiting"))
    assert runs.stop(fourth, wait=True, timeout_s=60).status == "stopped"  # a stop ends a waiting run at once
    # the stop touched only the waiting run (the first may already have finished on a fast CPU: 40 tiny steps)
    assert _training_rows(fourth) == [] and runs.get(ids[0]).status in ("running", "completed")
    finished = [runs.wait_for(run_id, timeout_s=300) for run_id in ids]
    assert [run.status for run in finished] == ["completed"] * 3, [run.error for run in finished]
    times = {run_id: [row["time"] for row in _training_rows(run_id)] for run_id in ids}
    assert min(times[ids[1]]) > max(times[ids[0]])  # the queued run trained after the first one
    # the --parallel one never waited in the queue (a queued worker logs its wait); when it trained is the CPU's affair
    assert "queued: waiting" not in runs.log_path(ids[2]).read_text()
    assert "queued: waiting for run" in runs.log_path(ids[1]).read_text()
    phases = [row["phase"] for row in runs.metrics(ids[0]) if "loss" not in row]
    assert phases == ["loading model", "tokenizing", "training"]
    assert "llmdeck worker: saving" in runs.log_path(ids[0]).read_text()
    assert _training_rows(ids[2])[0]["learning_rate"] == pytest.approx(1e-3)  # no warmup step at lr 0
    log = runs.log_path(ids[0]).read_text()
    assert "\r" not in log and "{'loss'" not in log and "step 1/40  loss " in log
    warning_lines = [line for line in log.splitlines() if "Warning:" in line]
    assert len(warning_lines) == len(set(warning_lines))  # each warning once


def test_base_is_pinned_resume_survives_torn_metrics_and_counts_elapsed(cli, templateless_gguf, tmp_path):
    import hashlib

    from tests.tuning.conftest import write_articles

    assert cli("models", "import", str(templateless_gguf), "--name", "tiny-base").returncode == 0
    assert cli("models", "default", "tiny-base").returncode == 0
    articles = write_articles(tmp_path / "articles.txt", count=40)
    launched = cli(
        "train",
        "--dataset",
        str(articles),
        "--max-length",
        "32",
        "--batch-size",
        "1",
        "--max-steps",
        "200",
        "--save-steps",
        "3",
        "--json",
    )
    assert launched.returncode == 0, launched.stderr
    run_id = json.loads(launched.stdout)["run"]["id"]
    run = runs.get(run_id)
    assert run.base_model == "tiny-base" and run.config["base_model"] == "tiny-base"
    assert run.base_sha256 == hashlib.sha256(templateless_gguf.read_bytes()).hexdigest()
    wait_until(lambda: runs.get(run_id).global_step >= 4, timeout_s=180)
    stopped = runs.stop(run_id, wait=True, timeout_s=120)
    assert stopped.status == "stopped", stopped.error
    step = stopped.global_step
    elapsed_at_stop = [row for row in runs.metrics(run_id) if "elapsed_s" in row][-1]["elapsed_s"]
    with (stopped.path / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 99, "loss": 1.2, "elaps')  # a kill mid-write
    assert cli("runs", "metrics", run_id, "--json").returncode == 0
    assert cli("models", "default", "smollm2-135m-instruct").returncode == 0  # the default moves on; the run does not
    resumed = cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr
    wait_until(lambda: [r for r in _training_rows(run_id) if r["step"] > step + 1], timeout_s=180)
    final = runs.stop(run_id, wait=True, timeout_s=120)
    assert final.status == "stopped", final.error
    rows = _training_rows(run_id)
    assert [r["step"] for r in rows] == list(range(1, final.global_step + 1))
    after = [r for r in rows if r["step"] > step]
    assert after and after[0]["elapsed_s"] > elapsed_at_stop  # elapsed keeps counting across the resume

    changed = tmp_path / "changed.gguf"  # the same store name now holds other weights
    content = bytearray(templateless_gguf.read_bytes())
    content[-64:] = bytes(64)
    changed.write_bytes(bytes(content))
    assert cli("models", "rm", "tiny-base").returncode == 0
    assert cli("models", "import", str(changed), "--name", "tiny-base").returncode == 0
    refused = cli("runs", "resume", run_id)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "changed since launch" in refused.stderr
    assert runs.get(run_id).status == "stopped"


def test_truncation_over_the_threshold_asks_for_a_flag(tiny_model_dir, cli, tmp_path):
    rows = [{"instruction": "Hi?", "output": "Hello."}] * 9 + [{"instruction": "Long?", "output": "word " * 200}]
    path = write_jsonl(tmp_path / "long.jsonl", rows)
    args = ["train", "--base-model", str(tiny_model_dir), "--dataset", str(path), "--max-length", "64"]
    dry = cli(*args, "--dry-run", "--json")
    cut = json.loads(dry.stdout)["data"]["truncation"]
    assert dry.returncode == 0 and cut["rows_over"] == 1 and cut["rows"] == 10 and cut["assistant_cut_share"] > 0.5
    assert "1 of 10 rows (10.0%) exceed max_length 64" in cli(*args, "--dry-run").stderr
    refused = cli(*args)
    assert refused.returncode == 2 and "--allow-truncation" in refused.stderr and "1 of 10 rows" in refused.stderr
    assert Registry().list() == []
    allowed = cli(*args, "--allow-truncation", "--max-steps", "1")
    assert allowed.returncode == 0 and "1 of 10 rows (10.0%) exceed max_length 64" in allowed.stderr
    assert runs.wait_for(allowed.stdout.strip(), timeout_s=180).status == "completed"
