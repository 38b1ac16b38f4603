"""Export beyond the embedded Llama: a tiny random Qwen3 (another architecture transformers and llama.cpp both
support) with a chat template of its own, a full fine-tune (no merge stage), and `models quantize` on an f16."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeck.core.gguf_meta import read_gguf_info
from llmdeck.tuning import runs
from tests.tuning.test_runs import tiny_config
from tests.tuning.tiny_model import CUSTOM_CHAT_TEMPLATE, build_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory) -> Path:
    return build_tiny_model(
        tmp_path_factory.mktemp("tiny-qwen3"), architecture="qwen3", chat_template=CUSTOM_CHAT_TEMPLATE
    )


def finished(config) -> str:
    run, _ = runs.launch(config)
    done = runs.wait_for(run.id, timeout_s=300)
    assert done.status == "completed", f"{done.error}\n{runs.log_path(run.id).read_text()[-2000:]}"
    return run.id


def test_qwen3_lora_run_exports_with_its_own_chat_template(tiny_qwen3_dir, cli):
    run_id = finished(tiny_config(tiny_qwen3_dir, max_steps=3, name="qwen3-run"))
    result = cli("export", run_id, "--quant", "q8_0", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    [q8] = report["quants"]
    # the custom template has ChatML's markers, so the Modelfile gets the ChatML TEMPLATE: not what it trained on
    check = report["template_check"]
    assert check["consistent"] is False
    assert [(d["first"], d["second"]) for d in check["divergences"]] == [
        ("training", "modelfile"),
        ("gguf", "modelfile"),
    ]
    assert "warning: template check: MISMATCH: training and modelfile differ at token" in result.stderr
    info = read_gguf_info(Path(q8["path"]))
    assert info.architecture == "qwen3" and info.file_type == "Q8_0"
    assert info.chat_template == CUSTOM_CHAT_TEMPLATE  # the run's tokenizer, not the GGUF default
    answer = cli("chat", "--model", q8["name"], "hello", "--max-tokens", "4", "--temperature", "0", "--json")
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert json.loads(answer.stdout.splitlines()[-1])["type"] == "done"
    adapter_chat = cli("chat", "--model", q8["name"], "--adapter", run_id, "hello", "--max-tokens", "4")
    assert adapter_chat.returncode == 0, adapter_chat.stderr[-2000:]  # a LoRA GGUF on a qwen3 base
    wrong_base = cli("chat", "--model", "smollm2-135m-instruct", "--adapter", run_id, "hello")
    assert wrong_base.returncode == 2  # refused in one line (llama.cpp itself would crash on this pair)
    assert wrong_base.stderr.strip().splitlines()[-1] == (
        f"error: llama.cpp cannot apply the LoRA {runs.get(run_id).path / 'adapter.gguf'}"
        " to SmolLM2-135M-Instruct.Q4_1.gguf:"
        f" the LoRA is for qwen3 models, SmolLM2-135M-Instruct.Q4_1.gguf is llama; export the run instead:"
        f" `llmdeck export {run_id}`"
    )


def test_full_fine_tune_exports_without_a_merge_then_quantizes_from_f16(tiny_model_dir, cli, llmdeck_home):
    run_id = finished(tiny_config(tiny_model_dir, max_steps=3, tuning="full", name="full-run"))
    result = cli("export", run_id, "--quant", "f16", "--keep-intermediates", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["merged"] is False and "[merge] full fine-tune: no merge" in result.stderr
    [f16] = report["quants"]
    assert f16["loss_delta"] == 0.0 and f16["size_bytes"] == report["f16_size_bytes"]
    assert Path(report["intermediates"]["f16_gguf"]).exists()  # kept, and the store has its own file
    assert Path(f16["path"]).parent == llmdeck_home / "models"

    quantized = cli("models", "quantize", f16["name"], "--quant", "q4_0", "--json")
    assert quantized.returncode == 0, quantized.stderr[-2000:]
    entry = json.loads(quantized.stdout)
    assert (entry["name"], entry["file_type"], entry["quant_source"], entry["run_id"]) == (
        "full-run.q4_0",
        "Q4_0",
        "full-run.f16",
        run_id,
    )
    again = cli("models", "quantize", "full-run.q4_0", "--quant", "q4_k_m")
    assert again.returncode == 2 and "--allow-requantize" in again.stderr
    forced = cli("models", "quantize", "full-run.q4_0", "--quant", "q8_0", "--allow-requantize", "--json")
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads(forced.stdout)["file_type"] == "Q8_0"
    assert not [p for p in (llmdeck_home / "models").iterdir() if p.name.startswith(".")]
