"""A base's tokenizer, config and parameter shapes are kept in the cache across processes: a GGUF's are converted
once per file version (transformers parses its whole vocabulary for each, seconds in every new plan process), an
HF directory's shapes once per config.json; a killed conversion leaves nothing, and what is read back is what
transformers reads from the GGUF itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmdeck.core import paths
from llmdeck.tuning import models


class _Converted:
    """What transformers' from_pretrained returns, as far as the cache uses it: something that saves files."""

    def __init__(self, file: str, fail: bool = False):
        self.file, self.fail = file, fail

    def save_pretrained(self, directory) -> None:
        if self.fail:
            raise RuntimeError("disk full")
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / self.file).write_text("{}")


@pytest.fixture
def conversions(monkeypatch):
    """Every GGUF read by transformers' Auto classes, counted; `fail_config` makes the config's save fail."""
    import transformers

    calls: list[str] = []
    state = {"fail_config": False}

    def tokenizer(location, gguf_file=None, **kwargs):
        calls.append(f"tokenizer:{gguf_file}")
        return _Converted("tokenizer.json")

    def config(location, gguf_file=None, **kwargs):
        calls.append(f"config:{gguf_file}")
        return _Converted("config.json", fail=state["fail_config"])

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", config)
    return calls, state


def test_a_gguf_is_converted_once_per_file_version_and_a_killed_conversion_is_reclaimed(tmp_path, conversions):
    calls, _ = conversions
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    base = models.ModelSource("gguf", str(tmp_path), gguf_file="m.gguf", display="m")
    root = paths.cache_dir() / models.GGUF_METADATA_DIR
    killed = root / ".0123abcd.1-1-dead.tmp"  # a conversion whose process (pid 1, another start) is gone
    (killed / "tokenizer.json").parent.mkdir(parents=True)
    (killed / "tokenizer.json").write_text("half")

    first = models.gguf_metadata_dir(base)
    assert sorted(p.name for p in first.iterdir()) == ["config.json", "tokenizer.json"]
    assert calls == ["tokenizer:m.gguf", "config:m.gguf"]
    assert not killed.exists()
    assert models.gguf_metadata_dir(base) == first and len(calls) == 2  # read back, not converted again

    info = gguf.stat()
    os.utime(gguf, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # the file was rewritten
    second = models.gguf_metadata_dir(base)
    assert second != first and len(calls) == 4
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_a_failed_conversion_leaves_nothing_and_is_tried_again(tmp_path, conversions):
    calls, state = conversions
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    base = models.ModelSource("gguf", str(tmp_path), gguf_file="m.gguf", display="m")
    state["fail_config"] = True
    with pytest.raises(RuntimeError, match="disk full"):
        models.gguf_metadata_dir(base)
    assert list((paths.cache_dir() / models.GGUF_METADATA_DIR).iterdir()) == []  # no half directory
    state["fail_config"] = False
    assert (models.gguf_metadata_dir(base) / "config.json").exists()
    assert len(calls) == 4


def test_an_hf_directorys_shapes_are_kept_per_config(tmp_path, monkeypatch):
    measured: list[str] = []
    shapes = (1000, [("layers.0.q_proj", 8, 8)], {"hidden_size": 8, "num_layers": 1, "vocab_size": 10})

    def measure(base, auto_class):
        measured.append(auto_class)
        return shapes

    monkeypatch.setattr(models, "_measured_shapes", measure)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    base = models.ModelSource("hf_dir", str(tmp_path), display="tiny")
    models.parameter_shapes.cache_clear()
    try:
        assert models.parameter_shapes(base) == shapes
        models.parameter_shapes.cache_clear()  # as a new process would
        assert models.parameter_shapes(base) == shapes and measured == ["AutoModelForCausalLM"]
        assert models.parameter_shapes(base, "AutoModel") == shapes and len(measured) == 2  # another head
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 16}))
        models.parameter_shapes.cache_clear()
        models.parameter_shapes(base)
        assert len(measured) == 3  # a changed config is measured again
        kept = list((paths.cache_dir() / "shapes").iterdir())
        assert len(kept) == 3 and not [p for p in kept if p.name.startswith(".")]
        damaged = models._shapes_file(base, "AutoModelForCausalLM")
        assert damaged is not None
        damaged.write_text("{not json")  # a damaged file is measured again and rewritten
        models.parameter_shapes.cache_clear()
        assert models.parameter_shapes(base) == shapes and len(measured) == 4
        assert json.loads(damaged.read_text())["total"] == 1000
    finally:
        models.parameter_shapes.cache_clear()


@pytest.mark.slow
def test_the_embedded_ggufs_cached_tokenizer_and_config_are_what_transformers_reads_from_it(monkeypatch):
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    base = models.resolve_base(None)
    direct = AutoTokenizer.from_pretrained(base.location, gguf_file=base.gguf_file)
    direct_config = AutoConfig.from_pretrained(base.location, gguf_file=base.gguf_file)
    models._loaded_tokenizer.cache_clear()
    models.parameter_shapes.cache_clear()
    try:
        cached = models.load_tokenizer(base)
        conversation = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Ünïcode, emoji 🙂, tabs\tand  spaces; <b>tags</b>?"},
            {"role": "assistant", "content": "def f(x):\n    return x * 2  # ok"},
        ]
        assert cached.apply_chat_template(conversation) == direct.apply_chat_template(conversation)
        assert cached("plain text, 123 + 456 = 579")["input_ids"] == direct("plain text, 123 + 456 = 579")["input_ids"]
        assert (len(cached), cached.eos_token, cached.bos_token) == (len(direct), direct.eos_token, direct.bos_token)
        assert cached.name_or_path == direct.name_or_path
        assert models.load_config(base).to_dict() == direct_config.to_dict()
        shapes = models.parameter_shapes(base)
        assert shapes[0] == 134_515_008  # SmolLM2-135M, tied embeddings counted once

        def no_gguf_parse(*args, **kwargs):
            raise AssertionError("the GGUF was parsed again")

        monkeypatch.setattr(gguf.GGUFReader, "__init__", no_gguf_parse)
        models._loaded_tokenizer.cache_clear()
        models.parameter_shapes.cache_clear()  # a new process: all from the cache
        assert models.load_tokenizer(base).apply_chat_template(conversation) == direct.apply_chat_template(conversation)
        assert models.parameter_shapes(base) == shapes
    finally:
        models._loaded_tokenizer.cache_clear()
        models.parameter_shapes.cache_clear()
