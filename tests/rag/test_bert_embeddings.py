"""Our BERT encoder (rag/bert.py) against sentence-transformers, and a `rag query` path that never imports the
training stack (sentence-transformers, transformers' trainer, peft, bitsandbytes, torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmdeck.core.embedded import embedded_embedding_model_dir
from llmdeck.rag.bert import _batches, describe

TEXTS = [
    "The lighthouse keeper climbs 217 steps every evening to light the lamp.",
    "Rotate the API keys every ninety days and revoke the old ones at once.",
    "  leading and trailing spaces  ",
    "Ünïcödé ß straße 東京",
    "",
    "def add(a, b):\n    return a + b",
    "long " * 400,  # past max_seq_length: truncated as sentence-transformers truncates
]
NEVER_ON_QUERY = ["sentence_transformers", "transformers", "peft", "bitsandbytes", "torch", "langchain_huggingface"]


def test_packaged_minilm_takes_the_fast_path():
    layout = describe(embedded_embedding_model_dir())
    assert layout is not None and layout.pooling == "mean" and layout.max_length == 256 and layout.hidden == 384


def test_describe_refuses_a_folder_it_cannot_reproduce(tmp_path):
    assert describe(tmp_path) is None
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    (tmp_path / "modules.json").write_text("[]")
    assert describe(tmp_path) is None


def test_batches_cover_every_text_within_the_budget():
    lengths = [5, 250, 7, 120, 250, 3, 60] * 10
    batches = _batches(lengths, 1024, 64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) * max(lengths[i] for i in b) <= 1024 for b in batches)


def test_a_query_imports_no_training_stack(tmp_path):
    """What `rag query` loads to embed a question: the numpy runtime only."""
    code = (
        "from llmdeck.rag import query\n"
        "from llmdeck.rag.embeddings import load_embeddings\n"
        "load_embeddings().embed_query('how often should keys be rotated?')\n"
        "import sys, json; print(json.dumps(sorted(sys.modules)))"
    )
    env = {"LLMDECK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    loaded = {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}
    assert not loaded & set(NEVER_ON_QUERY), loaded & set(NEVER_ON_QUERY)


@pytest.mark.slow
def test_vectors_equal_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    from llmdeck.rag.bert import BertEmbeddings

    model_dir = Path(embedded_embedding_model_dir())
    reference = SentenceTransformer(str(model_dir), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = BertEmbeddings(model_dir)
    for runtime in ("numpy", "torch"):
        vectors = ours.embed(TEXTS, runtime)
        assert vectors.shape == reference.shape
        assert float((vectors * reference).sum(axis=1).min()) > 1 - 1e-5, runtime
    query = np.asarray(ours.embed_query(TEXTS[1]))
    assert float(query @ reference[1]) > 1 - 1e-5
    bf16 = BertEmbeddings(model_dir, precision=lambda: "bf16").embed(TEXTS, "torch")
    assert float((bf16 * reference).sum(axis=1).min()) > 0.999
