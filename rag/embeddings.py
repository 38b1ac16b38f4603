"""Embedding models: the packaged all-MiniLM-L6-v2 by default (offline), or any sentence-transformers model."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeck.core.embedded import MINILM_NAME, embedded_embedding_model_dir
from llmdeck.core.errors import BadInput
from llmdeck.core.hardware import cpu_has_native_bf16
from llmdeck.core.settings import load_settings

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


@dataclass(frozen=True)
class EmbeddingSpec:
    """Which embedding model a collection uses: a short name (recorded on the collection) and where it loads from."""

    name: str
    source: str


def resolve_embedding(name_or_path: str | None = None) -> EmbeddingSpec:
    """None (or the default name) means the packaged all-MiniLM-L6-v2; a directory or hub id otherwise."""
    requested = name_or_path or load_settings().embedding_model
    if requested in (None, MINILM_NAME, f"sentence-transformers/{MINILM_NAME}"):
        return EmbeddingSpec(MINILM_NAME, str(embedded_embedding_model_dir()))
    path = Path(requested).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise BadInput(f"{path}: not a sentence-transformers model directory (no config.json/modules.json)")
        return EmbeddingSpec(path.resolve().name, str(path.resolve()))
    return EmbeddingSpec(requested, requested)


def embedding_precision() -> str:
    """ "bf16" or "fp32" for bulk (ingest) embedding: the setting, with auto resolved against this machine's CPU
    flags (no torch import: a query never needs to know)."""
    setting = load_settings().embedding_precision
    if setting != "auto":
        return setting
    return "bf16" if cpu_has_native_bf16() else "fp32"


def load_embeddings(spec: EmbeddingSpec | None = None, batch_size: int = 16):
    """The LangChain `Embeddings` of a model, loaded once per process (normalized vectors).

    A BERT-family sentence-transformers folder (the packaged all-MiniLM-L6-v2 among them) gets `BertEmbeddings`:
    the same vectors as sentence-transformers without importing it (nor transformers, peft, bitsandbytes).
    Anything else goes through langchain-huggingface's `HuggingFaceEmbeddings`.
    """
    spec = spec or resolve_embedding()
    with _lock:
        fast = _fast_key(spec)
        if fast in _loaded:
            return _loaded[fast]
        model_dir = Path(spec.source)
        if model_dir.is_dir() and fast_path_supported(model_dir):
            from llmdeck.rag.bert import BertEmbeddings

            _loaded[fast] = BertEmbeddings(model_dir, precision=embedding_precision)
            return _loaded[fast]
        precision = embedding_precision()
        key = f"{spec.source}|{batch_size}|{precision}"
        if key not in _loaded:
            try:
                _loaded[key] = _embeddings_class()(
                    model_name=spec.source,
                    model_kwargs={"device": "cpu"},
                    encode_kwargs={"batch_size": batch_size, "normalize_embeddings": True},
                    autocast_bf16=precision == "bf16",
                )
            except OSError as exc:
                raise BadInput(f"embedding model '{spec.name}': cannot load ({str(exc).splitlines()[0]})") from None
        return _loaded[key]


def _fast_key(spec: EmbeddingSpec) -> str:
    return f"{spec.source}|bert"


def fast_path_supported(model_dir: Path) -> bool:
    """A sentence-transformers folder our own BERT encoder reproduces: a BERT `config.json`, a `tokenizer.json`,
    `model.safetensors`, and modules Transformer + mean or CLS Pooling (+ Normalize), nothing else."""
    from llmdeck.rag.bert import describe

    return describe(model_dir) is not None


@functools.cache
def _embeddings_class():
    """HuggingFaceEmbeddings that can run the encoder under bf16 autocast (built lazily: heavy imports)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    class PrecisionEmbeddings(HuggingFaceEmbeddings):
        autocast_bf16: bool = False

        def _embed(self, texts, encode_kwargs):
            if not self.autocast_bf16:
                return super()._embed(texts, encode_kwargs)
            import torch

            with torch.autocast("cpu", dtype=torch.bfloat16):
                return super()._embed(texts, {**encode_kwargs, "convert_to_numpy": True})

    return PrecisionEmbeddings


def embedding_dimension(embeddings) -> int:
    if hasattr(embeddings, "dimension"):
        return int(embeddings.dimension)
    model = embeddings._client
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(dim())


def count_tokens(embeddings, texts: list[str]) -> int:
    """How many tokens the model reads for `texts` (after truncation), as `/v1/embeddings` reports usage."""
    if hasattr(embeddings, "count_tokens"):
        return int(embeddings.count_tokens(texts))
    return int(embeddings._client.tokenize(texts)["attention_mask"].sum())
