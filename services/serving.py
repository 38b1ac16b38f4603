"""What `llmdeck serve` puts behind its one URL besides the chat models: the RAG embedding model, and the list
of every store model for `--all`."""

from __future__ import annotations

from llmdeck.core.serving import EmbeddingModel


def all_store_models() -> list[str]:
    """Every store model's name, the default one first (a request naming no model gets it)."""
    from llmdeck.core.store import ModelStore

    entries = ModelStore().list()
    return [e.name for e in entries if e.is_default] + [e.name for e in entries if not e.is_default]


def embedding_model(name_or_path: str | None = None) -> EmbeddingModel:
    """The embedding model the RAG stack uses (config.toml's `embedding_model`, default all-MiniLM-L6-v2), served
    under its short name: the same vectors as in-process ingestion and retrieval. It loads on its first request."""
    from llmdeck.rag.embeddings import resolve_embedding

    spec = resolve_embedding(name_or_path)

    def embed(texts: list[str]) -> tuple[list[list[float]], int]:
        from llmdeck.rag.embeddings import count_tokens, load_embeddings

        embeddings = load_embeddings(spec)
        vectors = embeddings.embed_documents(texts)
        tokens = count_tokens(embeddings, texts)
        return vectors, tokens

    return EmbeddingModel(spec.name, embed)
