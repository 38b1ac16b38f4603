"""The CLI tests reuse the RAG fixtures (corpus, embeddings) for `llmdeck rag` and `chat --rag`."""

from tests.rag.conftest import corpus, embeddings  # noqa: F401  (fixtures)
