"""The estimate builds a weightless model; another thread building a real model meanwhile must get real weights
(the app estimates in a worker thread while other workers load models)."""

from __future__ import annotations

import threading

import pytest


@pytest.mark.slow  # end to end through the app or the training stack: seconds
def test_a_weightless_model_in_one_thread_leaves_other_threads_real(monkeypatch):
    import torch
    import transformers

    from llmdeck.tuning import models

    inside, release = threading.Event(), threading.Event()

    def slow_from_config(config):  # the estimate's model, held open while the main thread builds a module
        layer = torch.nn.Linear(4, 4)
        inside.set()
        release.wait(30)
        holder = torch.nn.Module()
        holder.layer = layer
        holder.config = config
        holder.tie_weights = lambda: None
        return holder

    config = transformers.LlamaConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, vocab_size=10)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", lambda *a, **k: config)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_config", slow_from_config)
    models.parameter_shapes.cache_clear()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(shapes=models.parameter_shapes(models.ModelSource("hf_dir", "/nowhere")))
    )
    worker.start()
    try:
        assert inside.wait(30)
        built_meanwhile = torch.nn.Linear(3, 3)
    finally:
        release.set()
        worker.join(30)
    models.parameter_shapes.cache_clear()
    assert built_meanwhile.weight.device.type == "cpu" and built_meanwhile.weight.abs().sum() > 0
    total, linears, _ = result["shapes"]
    assert total == 20 and linears == [("layer", 4, 4)]  # the estimate's own model was weightless, and counted
