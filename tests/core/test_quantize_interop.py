"""Quant types, the Ollama Modelfile and the LM Studio layout (fast: GGUF metadata only, no model loads)."""

from __future__ import annotations

import os

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.core.interop import FAMILIES, export_to_dir, modelfile, ollama_template, template_family
from llmdeck.core.quantize import QUANT_TYPES, is_quantized, parse_quant_types
from llmdeck.core.store import Lineage, ModelStore


def test_parse_quant_types_keeps_order_and_names_the_bad_one():
    assert parse_quant_types("Q8_0, q4_k_m,q8_0") == ["q8_0", "q4_k_m"]
    assert {"f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0"} <= set(QUANT_TYPES)
    with pytest.raises(BadInput, match="unknown type 'q9'"):
        parse_quant_types("q8_0,q9")
    with pytest.raises(BadInput, match="no type given"):
        parse_quant_types(" , ")
    assert is_quantized("Q4_1") and not is_quantized("F16") and not is_quantized("ALL_F32")


def test_modelfile_for_the_embedded_model_matches_its_chatml_template(embedded_gguf):
    entry = ModelStore().get("smollm2-135m-instruct")
    text = modelfile(entry, system="Answer briefly.")
    lines = text.splitlines()
    assert f"FROM {embedded_gguf.resolve()}" in lines
    assert 'PARAMETER stop "<|im_end|>"' in lines and 'PARAMETER stop "<|im_start|>"' in lines
    assert lines[-1] == 'SYSTEM """Answer briefly."""'
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    # the GGUF's turn format: <|im_start|>ROLE\nCONTENT<|im_end|>\n, then the generation prompt
    assert "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}" in template
    assert template.endswith("<|im_start|>assistant\n")
    # SmolLM2's template adds its own system prompt when none is given; the Modelfile keeps that default
    assert "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>" in template
    assert '(ne (index .Messages 0).Role "system")' in template


@pytest.mark.parametrize(
    "jinja, family, stop",
    [
        (
            "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
            "{{ m['content'] }}<|eot_id|>{% endfor %}",
            "llama3",
            "<|eot_id|>",
        ),
        (
            "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}",
            "gemma",
            "<end_of_turn>",
        ),
        (
            "{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
            "{% else %}{{ m['content'] }}</s>{% endif %}{% endfor %}",
            "mistral",
            "[INST]",
        ),
    ],
)
def test_template_families_are_recognised(jinja, family, stop):
    found = template_family(jinja, "m")
    assert found.name == family and stop in found.stops
    assert "{{ .Content }}" in ollama_template(found, jinja)


def test_unknown_or_missing_template_is_a_clear_message():
    with pytest.raises(BadInput, match="no Ollama TEMPLATE translation .* ChatML, Llama 3, Gemma and Mistral"):
        template_family("{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}{% endfor %}", "m")
    with pytest.raises(BadInput, match="has no chat template"):
        template_family(None, "m")
    assert len({f.marker for f in FAMILIES}) == len(FAMILIES)


def test_lmstudio_layout_copy_and_hard_link(copied_gguf, tmp_path):
    store = ModelStore()
    entry = store.register(copied_gguf, name="tuned.q4_1", copy=True, lineage=Lineage(quant_type="q4_1"))
    copied = export_to_dir(entry, tmp_path / "lms")
    assert copied == tmp_path / "lms" / "llmdeck" / "tuned-GGUF" / "tuned.q4_1.gguf"
    assert copied.read_bytes()[:4] == b"GGUF" and os.stat(copied).st_ino != os.stat(entry.path).st_ino
    linked = export_to_dir(entry, tmp_path / "lms2", link=True, publisher="me")
    assert linked.parent.parent.name == "me" and os.stat(linked).st_ino == os.stat(entry.path).st_ino
    with pytest.raises(BadInput, match="already exists"):
        export_to_dir(entry, tmp_path / "lms")
    assert not [p for p in copied.parent.iterdir() if p.name.startswith(".")]


def test_store_records_lineage_and_moves_a_file_in(copied_gguf, tmp_path):
    store = ModelStore()
    staged = tmp_path / "staged.gguf.tmp"
    staged.write_bytes(copied_gguf.read_bytes())
    lineage = Lineage(
        base_model="smollm2",
        run_id="r1",
        quant_source="/runs/r1/adapter",
        quant_type="q4_1",
        eval_loss=2.5,
        eval_perplexity=12.18,
        loss_delta=0.03,
        eval_data="eval split",
    )
    entry = store.register(staged, name="moved.q4_1", lineage=lineage, move=True)
    assert not staged.exists() and entry.path == str(store.model_path("moved.q4_1")) and entry.copied
    assert (entry.quant_type, entry.loss_delta, entry.eval_data) == ("q4_1", 0.03, "eval split")
    assert ModelStore().get("moved.q4_1").eval_perplexity == 12.18
    store.remove("moved.q4_1")
    assert not store.model_path("moved.q4_1").exists()


def test_a_failed_insert_moves_the_file_back(copied_gguf, tmp_path, monkeypatch):
    store = ModelStore()
    staged = tmp_path / "staged.gguf"
    staged.write_bytes(copied_gguf.read_bytes())
    store.conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON models BEGIN SELECT RAISE(ABORT, 'refused'); END")
    try:
        with pytest.raises(BadInput):
            store.register(staged, name="back", move=True)
    finally:
        store.conn.execute("DROP TRIGGER refuse")
    assert staged.exists() and not store.model_path("back").exists()


def write_gguf(path, arch: str, tensors: dict):
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    for name, shape in tensors.items():
        writer.add_tensor(name, np.zeros(shape[::-1], dtype=np.float32))  # numpy order is GGUF's reversed
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_lora_mismatch_names_the_architecture_or_the_tensor(tmp_path):
    from llmdeck.core.gguf_meta import lora_mismatch

    model = write_gguf(tmp_path / "m.gguf", "llama", {"blk.0.attn_q.weight": (64, 32)})
    fits = write_gguf(
        tmp_path / "a.gguf", "llama", {"blk.0.attn_q.weight.lora_a": (64, 8), "blk.0.attn_q.weight.lora_b": (8, 32)}
    )
    wider = write_gguf(
        tmp_path / "b.gguf", "llama", {"blk.0.attn_q.weight.lora_a": (128, 8), "blk.0.attn_q.weight.lora_b": (8, 32)}
    )
    other = write_gguf(
        tmp_path / "c.gguf", "qwen3", {"blk.0.attn_q.weight.lora_a": (64, 8), "blk.0.attn_q.weight.lora_b": (8, 32)}
    )
    missing = write_gguf(
        tmp_path / "d.gguf", "llama", {"blk.9.attn_q.weight.lora_a": (64, 8), "blk.9.attn_q.weight.lora_b": (8, 32)}
    )
    assert lora_mismatch(model, fits) is None
    assert lora_mismatch(model, wider) == "blk.0.attn_q.weight is [64, 32] in the model, the LoRA expects [128, 32]"
    assert lora_mismatch(model, other) == "the LoRA is for qwen3 models, m.gguf is llama"
    assert lora_mismatch(model, missing) == "the model has no tensor blk.9.attn_q.weight"


@pytest.mark.slow  # a real llama.cpp quantize in a child process
def test_a_progress_callback_that_raises_ends_the_child_and_leaves_no_file(embedded_gguf, tmp_path):
    """How the app cancels a quantize: its progress callback raises; the child must not go on writing."""
    import psutil

    from llmdeck.core.quantize import quantize_file

    class Cancelled(Exception):
        pass

    children_before = {p.pid for p in psutil.Process().children(recursive=True)}

    def cancel(done: int, total: int) -> None:
        if done >= 3:
            raise Cancelled

    target = tmp_path / "out.gguf"
    with pytest.raises(Cancelled):
        quantize_file(embedded_gguf, target, "q8_0", allow_requantize=True, on_progress=cancel)
    assert {p.pid for p in psutil.Process().children(recursive=True)} - children_before == set()
    assert list(tmp_path.iterdir()) == []  # neither the target nor its temp name
