"""Embedding models: the packaged all-MiniLM-L6-v2 by default (offline), or any sentence-transformers model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.embedded import MINILM_NAME, embedded_embedding_model_dir
from core.errors import BadInput
from core.settings import load_settings

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


def load_embeddings(spec: EmbeddingSpec | None = None, batch_size: int = 64):
    """A LangChain `HuggingFaceEmbeddings` over the model, loaded once per process (normalized vectors)."""
    spec = spec or resolve_embedding()
    key = f"{spec.source}|{batch_size}"
    with _lock:
        if key not in _loaded:
            from langchain_huggingface import HuggingFaceEmbeddings

            try:
                _loaded[key] = HuggingFaceEmbeddings(
                    model_name=spec.source,
                    model_kwargs={"device": "cpu"},
                    encode_kwargs={"batch_size": batch_size, "normalize_embeddings": True},
                )
            except OSError as exc:
                raise BadInput(f"embedding model '{spec.name}': cannot load ({str(exc).splitlines()[0]})") from None
        return _loaded[key]


def embedding_dimension(embeddings) -> int:
    model = embeddings._client
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(dim())
