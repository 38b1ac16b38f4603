"""Embedding precision: bf16 autocast (the fast CPU path) must give the same vectors and ranking as fp32."""

from __future__ import annotations

import numpy as np
import pytest

from llmdeck.core.errors import BadInput
from llmdeck.core.settings import update_settings
from llmdeck.rag.embeddings import embedding_precision, load_embeddings

pytestmark = pytest.mark.slow  # real embeddings, stores and models

TEXTS = [
    "The lighthouse keeper climbs 217 steps every evening to light the lamp.",
    "Rotate the API keys every ninety days and revoke the old ones at once.",
    "Sourdough needs a starter fed with flour and water the night before.",
    "def add(a, b):\n    return a + b",
]


def _vectors(precision: str) -> tuple[np.ndarray, np.ndarray]:
    update_settings(embedding_precision=precision)
    assert embedding_precision() == precision
    embeddings = load_embeddings()
    documents = np.asarray(embeddings.embed(TEXTS, "torch"))  # the bulk runtime, where the precision applies
    assert embeddings.bf16 is (precision == "bf16")
    query = np.asarray(embeddings.embed_query("how often should keys be rotated?"))
    return documents, query


def test_bf16_vectors_match_fp32_and_rank_the_same():
    fp32_docs, fp32_query = _vectors("fp32")
    bf16_docs, bf16_query = _vectors("bf16")
    assert fp32_docs.shape == bf16_docs.shape == (len(TEXTS), 384)
    assert bf16_docs.dtype == np.float32  # float32, not bf16 leftovers
    assert np.allclose(np.linalg.norm(bf16_docs, axis=1), 1.0, atol=1e-3)
    cosines = (fp32_docs * bf16_docs).sum(axis=1)
    assert cosines.min() > 0.999, cosines
    assert float(fp32_query @ bf16_query) > 0.999
    assert np.argmax(fp32_docs @ fp32_query) == np.argmax(bf16_docs @ bf16_query) == 1


def test_embedding_precision_setting_is_validated():
    with pytest.raises(BadInput, match="embedding_precision"):
        update_settings(embedding_precision="fp16")
