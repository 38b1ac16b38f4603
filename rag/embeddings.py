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
    """ "bf16" or "fp32": the setting, with auto resolved against this machine."""
    setting = load_settings().embedding_precision
    if setting != "auto":
        return setting
    import torch

    if torch.cuda.is_available():
        return "fp32"  # sentence-transformers picks the GPU itself only when asked; CPU is what we load on
    return "bf16" if cpu_has_native_bf16() else "fp32"


def load_embeddings(spec: EmbeddingSpec | None = None, batch_size: int = 16):
    """A LangChain `HuggingFaceEmbeddings` over the model, loaded once per process (normalized vectors).

    Small encode batches beat large ones on CPU (less padding within a batch; measured 16 > 32 > 64 > 256),
    and bf16 autocast on CPUs with native bf16 runs ~1.7x fp32 with vectors at cosine > 0.9999 of fp32.
    """
    spec = spec or resolve_embedding()
    precision = embedding_precision()
    key = f"{spec.source}|{batch_size}|{precision}"
    with _lock:
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
    model = embeddings._client
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(dim())
