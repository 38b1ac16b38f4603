"""The typed config (every problem at once), example configs, CLI flags over YAML, estimate arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.tuning.config import TrainConfig, build_config, load_config
from llmdeck.tuning.estimate import lora_parameters, memory_bytes, training_flops

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_problem_is_reported_at_once():
    with pytest.raises(BadInput) as caught:
        build_config({"method": "ppo", "lora_r": 0, "learning_rate": -1, "eval_steps": 5, "colour": "red"})
    message = str(caught.value)
    for fragment in (
        "method: Input should be 'sft', 'dpo', 'orpo', 'kto', 'reward', 'grpo', 'rloo', 'token-cls',"
        " 'extractive-qa' or 'mlm'",
        "lora_r: Input should be greater than or equal to 1",
        "learning_rate: Input should be greater than 0",
        "colour: Extra inputs are not permitted",
        "eval_steps: set eval_split > 0",
    ):
        assert fragment in message


def test_cross_field_problems_together():
    with pytest.raises(BadInput) as caught:
        build_config({"method": "dpo", "dataset_format": "alpaca", "num_processes": 2, "tuning": "full"})
    message = str(caught.value)
    assert "dataset_format: method dpo needs preference data" in message
    assert "num_processes: more than 1 needs launcher accelerate" in message


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*-smollm2.yaml")), ids=lambda p: p.name)
def test_example_configs_load(path):
    config = load_config(path)
    assert config.base_model == "smollm2-135m-instruct"
    assert config.method in path.name
    assert TrainConfig(**config.model_dump()) == config  # the resolved copy a run keeps round-trips


def test_yaml_errors_name_the_file_and_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("method: sft\nlora_r: [1\n")
    with pytest.raises(BadInput, match=r"broken.yaml: line \d+ not valid YAML"):
        load_config(broken)


@pytest.mark.slow
def test_cli_flags_override_the_file_and_dry_run_estimates(cli, tiny_model_dir, tmp_path, llmdeck_home):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(f"base_model: {tiny_model_dir}\nbatch_size: 2\nmax_length: 64\nlora_r: 4\n")
    result = cli(
        "train",
        "--config",
        str(config_file),
        "--lora-r",
        "8",
        "--lora-target-modules",
        "q_proj,v_proj",
        "--max-steps",
        "10",
        "--dry-run",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["config"]["lora_r"] == 8 and plan["config"]["batch_size"] == 2
    assert plan["config"]["lora_target_modules"] == ["q_proj", "v_proj"]
    estimate = plan["estimate"]
    # tiny llama: 2 layers x (q 64->64, v 64->32) adapted at r=8
    assert estimate["trainable_parameters"] == 2 * 8 * ((64 + 64) + (64 + 32))
    assert estimate["steps"] == 10 and estimate["fits"] is True
    assert estimate["peak_bytes"] == sum(
        estimate[k] for k in ("weights_bytes", "trainable_bytes", "activations_bytes", "overhead_bytes")
    )
    assert not list((llmdeck_home / "runs").glob("*"))  # a dry run starts nothing
    human = cli("train", "--config", str(config_file), "--dry-run")
    assert "peak" in human.stderr and "fits" in human.stderr and human.stdout == ""


def test_bad_flags_exit_2_with_one_line(cli):
    result = cli("train", "--lora-r", "0", "--method", "dpo", "--format", "text", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "lora_r" in result.stderr and "dataset_format" in result.stderr


def test_estimate_arithmetic():
    linears = [("layers.0.q_proj", 64, 64), ("layers.0.v_proj", 64, 32), ("layers.0.mlp.up_proj", 64, 128)]
    assert lora_parameters(linears, 4, "all-linear") == 4 * (128 + 96 + 192)
    assert lora_parameters(linears, 4, ["q_proj"]) == 4 * 128
    terms = memory_bytes(
        parameters=1000,
        trainable=10,
        weight_format="nf4",
        batch=2,
        seq=8,
        hidden=4,
        layers=3,
        vocab=100,
        checkpointing=True,
    )
    assert terms["weights"] == int(1000 * 0.5625)
    assert terms["trainable"] == 10 * 16
    assert terms["activations"] == 3 * (2 * 2 * 8 * 4 * 4) + 3 * 2 * 8 * 100 * 4
    no_ckpt = memory_bytes(1000, 10, "float32", 2, 8, 4, 3, 100, checkpointing=False)
    assert no_ckpt["activations"] > terms["activations"] and no_ckpt["weights"] == 4000
    assert training_flops(100, 10, full=False, checkpointing=False, preference=False) == 4 * 100 * 10
    assert training_flops(100, 10, full=True, checkpointing=True, preference=False) == 8 * 100 * 10


@pytest.mark.slow
def test_memory_refusal_unless_forced(cli, tiny_model_dir):
    result = cli("train", "--base-model", str(tiny_model_dir), "--batch-size", "65536", "--max-length", "4096")
    assert result.returncode == 2 and "exceeds" in result.stderr and "--force" in result.stderr


@pytest.mark.slow
def test_qlora_on_cpu_is_refused_before_launch(cli, tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CPU-only check")
    result = cli("train", "--base-model", str(tiny_model_dir), "--tuning", "qlora", "--dry-run")
    assert result.returncode == 2
    assert "needs a CUDA GPU" in result.stderr and "--tuning lora" in result.stderr


def test_offline_hub_model_fails_at_once_naming_hf_hub_offline(cli):
    result = cli("train", "--base-model", "HuggingFaceTB/SmolLM2-360M-Instruct", "--dry-run")
    assert result.returncode == 1 and "HF_HUB_OFFLINE" in result.stderr  # a retrying download would hit the timeout


@pytest.mark.slow
def test_parameter_count_counts_tied_embeddings_once(tiny_model_dir):
    from llmdeck.tuning.models import parameter_shapes, resolve_base

    embedded_total, _, facts = parameter_shapes(resolve_base(None))
    assert embedded_total == 134_515_008  # SmolLM2-135M: 162.8M if the tied output embedding counted again
    tiny_total, _, _ = parameter_shapes(resolve_base(str(tiny_model_dir)))
    from transformers import AutoModelForCausalLM

    assert tiny_total == AutoModelForCausalLM.from_pretrained(tiny_model_dir).num_parameters()


def test_relative_paths_in_a_config_file_also_resolve_beside_it(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "data.jsonl").write_text('{"text": "x"}\n')
    (folder / "run.yaml").write_text("dataset: data.jsonl\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(folder / "run.yaml").dataset == str(folder / "data.jsonl")
    (elsewhere / "data.jsonl").write_text('{"text": "y"}\n')  # the working directory wins when both exist
    assert load_config(folder / "run.yaml").dataset == "data.jsonl"
