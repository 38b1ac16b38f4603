"""`llmdeck export RUN --format hf` on a tiny LoRA run: the directory transformers (and so vLLM, TGI, SGLang) loads,
with safetensors weights equal to base + adapter, the run's tokenizer and its chat template; refusals leave
nothing behind."""

from __future__ import annotations

import json

import pytest

from tests.tuning.test_export_architectures import finished
from tests.tuning.test_runs import tiny_config
from tests.tuning.tiny_model import CUSTOM_CHAT_TEMPLATE, build_tiny_model

pytestmark = pytest.mark.slow


def test_a_lora_run_exports_as_an_hf_directory_transformers_loads(tmp_path_factory, cli, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmdeck.tuning import runs

    base_dir = build_tiny_model(tmp_path_factory.mktemp("tiny-templated"), chat_template=CUSTOM_CHAT_TEMPLATE)
    run_id = finished(tiny_config(base_dir, max_steps=2, name="hf-run"))
    out = tmp_path / "exports" / "hf-run-hf"
    out.parent.mkdir()
    result = cli("export", run_id, "--format", "hf", "--output", str(out), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["directory"] == str(out) and report["merged"] and report["chat_template"]
    assert "model.safetensors" in report["files"] and "tokenizer.json" in report["files"]
    assert not [f for f in report["files"] if f.endswith((".bin", ".pt", ".pth"))]
    assert sorted(p.name for p in out.parent.iterdir()) == ["hf-run-hf"]  # no staging left beside it

    exported = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == CUSTOM_CHAT_TEMPLATE  # the run's template, what a server renders chats with
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    ids = torch.tensor([prompt if isinstance(prompt, list) else prompt["input_ids"]])
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, str(runs.get(run_id).path / "adapter"))
    with torch.no_grad():
        assert torch.allclose(exported(ids).logits, adapted(ids).logits, atol=1e-4)
        assert exported.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3

    again = cli("export", run_id, "--format", "hf", "--output", str(out), cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"error: export failed at the check stage: {out}: already exists (choose another --output or remove it)"
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == ["hf-run-hf"]
