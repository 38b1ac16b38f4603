from __future__ import annotations

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.core.gguf_meta import read_gguf_info


def test_reads_embedded_model_metadata_without_loading(embedded_gguf):
    info = read_gguf_info(embedded_gguf)
    assert info.architecture == "llama"
    assert info.file_type == "Q4_1"
    assert info.context_length == 8192
    assert 130_000_000 < info.parameter_count < 140_000_000
    assert info.size_bytes == embedded_gguf.stat().st_size
    assert info.has_chat_template and "<|im_start|>" in info.chat_template


@pytest.mark.slow
def test_parameter_count_matches_the_gguf_reference_reader(embedded_gguf):
    from gguf import GGUFReader

    reader = GGUFReader(embedded_gguf)
    assert read_gguf_info(embedded_gguf).parameter_count == sum(int(t.n_elements) for t in reader.tensors)


@pytest.mark.parametrize("keep_bytes", [3, 20, 5000, -1])
def test_truncated_files_are_refused_with_the_file_named(tmp_path, embedded_gguf, keep_bytes):
    data = embedded_gguf.read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:keep_bytes])
    with pytest.raises(BadInput) as excinfo:
        read_gguf_info(path)
    message = str(excinfo.value)
    expected = "not a GGUF" if 0 <= keep_bytes < 4 else "truncated"  # fewer than 4 bytes: not even the magic
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_not_gguf_and_missing_files(tmp_path):
    text = tmp_path / "notes.gguf"
    text.write_text("hello, not a model")
    with pytest.raises(BadInput, match="not a GGUF file"):
        read_gguf_info(text)
    with pytest.raises(BadInput, match="no such file"):
        read_gguf_info(tmp_path / "missing.gguf")
    with pytest.raises(BadInput, match="not a file"):
        read_gguf_info(tmp_path)


def test_garbage_after_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.gguf"
    path.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(BadInput, match="garbage.gguf"):
        read_gguf_info(path)
