"""Collections and retrieval: list, remove, and query a collection with its own embedding model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from llmdeck.core import locks, paths
from llmdeck.core.diskspace import is_disk_full
from llmdeck.core.errors import BadInput
from llmdeck.rag import registry
from llmdeck.rag.consistency import drop_unregistered, registered_ids
from llmdeck.rag.embeddings import load_embeddings, resolve_embedding
from llmdeck.rag.ingest import reconcile
from llmdeck.rag.stores import Hit, open_store


@dataclass
class CollectionInfo:
    name: str
    store: str
    location: str
    embedding_model: str
    dimension: int
    sources: int
    chunks: int

    def to_dict(self) -> dict:
        return asdict(self)


def list_collections() -> list[CollectionInfo]:
    conn = registry.connect()
    infos = []
    for record in registry.all_records(conn):
        n_sources, n_chunks = registry.counts(conn, record.name)
        infos.append(
            CollectionInfo(
                record.name,
                record.store,
                record.location,
                record.embedding_model,
                record.dimension,
                n_sources,
                n_chunks,
            )
        )
    return infos


def remove_collection(name: str) -> None:
    """Drop the vectors and the registry entry (the registry goes only once the store has dropped them).
    A collection whose first ingest was killed (vectors, no registry entry) is dropped too."""
    conn = registry.connect()
    with locks.exclusive("collection", name):
        if registry.find(conn, name) is None and reconcile(conn, name) == -1:
            return
        record = registry.get(conn, name)
        open_store(record.store, record.name, record.location, None, record.dimension, record.updated_at).drop()
        registry.delete(conn, name)
        from llmdeck.rag import bm25

        bm25.remove(name)


def open_collection(name: str, embedding_model: str | None = None):
    """(record, embeddings, store) for querying; refuses an embedding model other than the collection's.
    Unless an ingest is running, what a killed or failed ingest left in the store is removed first."""
    conn = registry.connect()
    with locks.if_free("collection", name) as free:
        if free:
            found = None
            try:
                reconcile(conn, name)
                found = registry.find(conn, name)
                if found is not None:
                    target = open_store(
                        found.store, found.name, found.location, None, found.dimension, found.updated_at
                    )
                    drop_unregistered(conn, found, target)
            except Exception as exc:  # on a full disk the clean-up waits for space; the query's filter holds
                if not is_disk_full(exc, found.location if found else paths.vectors_dir()):
                    raise
    record = registry.get(conn, name)
    if embedding_model:
        spec = resolve_embedding(embedding_model)
        if spec.name != record.embedding_model:
            raise BadInput(
                f"collection '{name}' was embedded with '{record.embedding_model}' ({record.dimension}-d);"
                f" querying it with '{spec.name}' is refused"
            )
    embeddings = load_embeddings(resolve_embedding(record.embedding_model))
    return (
        record,
        embeddings,
        open_store(
            record.store, record.name, record.location, embeddings, record.dimension, changed_at=record.updated_at
        ),
    )


RETRIEVAL_MODES = ("dense", "bm25", "hybrid")
CANDIDATES = 20  # each ranking's depth before fusion (at least k)


def retrieval_mode(mode: str | None) -> str:
    """`mode`, or config.toml's `retrieval` (default hybrid); BadInput for anything else."""
    if mode is None:
        from llmdeck.core.settings import load_settings

        return load_settings().retrieval
    if mode not in RETRIEVAL_MODES:
        raise BadInput(f"--retrieval {mode!r}: expected one of {', '.join(RETRIEVAL_MODES)}")
    return mode


def rerank(question: str, hits: list[Hit], reranker=None) -> list[Hit]:
    """The rerank stage: the first RERANK_DEPTH hits in the reranker's order (rag/rerank.py), the rest after
    them. Without a reranker it keeps the fused order."""
    if reranker is None:
        return hits
    from llmdeck.rag.rerank import rerank as reranked

    return reranked(question, hits, reranker)


def reranker_for(rerank_on: bool | None = None, rerank_model: str | None = None, loaded=None):
    """The reranker a command asked for, or None: `rerank_on` (None: config.toml's `rerank`), on whenever a
    `rerank_model` is named; `loaded` is the chat's own model (the default reranker in chat)."""
    if rerank_on is None:
        from llmdeck.core.settings import load_settings

        rerank_on = load_settings().rerank
    if not (rerank_on or rerank_model):
        return None
    from llmdeck.rag.rerank import open_reranker

    return open_reranker(rerank_model, loaded)


@dataclass
class Retriever:
    """An opened collection ready for many questions (rag eval asks hundreds): the store, the embeddings
    and the BM25 index are opened once; `search` runs any retrieval mode."""

    collection: str
    record: registry.CollectionRecord
    embeddings: object
    store: object
    known: set[str]
    progress: bool = True
    _bm25: object = None

    def dense(self, question: str, k: int) -> list[Hit]:
        vector = self.embeddings.embed_query(question)  # type: ignore[attr-defined]
        return [hit for hit in self.store.search(vector, k) if not hit.id or hit.id in self.known]  # type: ignore[attr-defined]

    def keyword(self, question: str, k: int) -> list[Hit]:
        if self._bm25 is None:
            from llmdeck.rag import bm25

            self._bm25 = bm25.for_store(self.collection, self.known, self.store, progress=self.progress)  # type: ignore[arg-type]
        return [hit for hit in self._bm25.search(question, k) if hit.id in self.known]  # type: ignore[attr-defined]

    def search(self, question: str, k: int = 5, mode: str | None = None, reranker=None) -> list[Hit]:
        """The `k` best hits of `mode`; with a `reranker`, its order of the mode's first RERANK_DEPTH."""
        if not question.strip():
            raise BadInput("query: the question is empty")
        if k < 1:
            raise BadInput(f"-k {k}: expected at least 1")
        mode = retrieval_mode(mode)
        from llmdeck.rag.rerank import RERANK_DEPTH

        wanted = max(k, RERANK_DEPTH) if reranker is not None else k
        if mode == "dense":
            return rerank(question, self.dense(question, wanted), reranker)[:k]
        if mode == "bm25":
            return rerank(question, self.keyword(question, wanted), reranker)[:k]
        from llmdeck.rag.fusion import hybrid

        depth = max(wanted, CANDIDATES)
        return rerank(question, hybrid(self.dense(question, depth), self.keyword(question, depth)), reranker)[:k]


def open_retriever(collection: str, embedding_model: str | None = None, progress: bool = True) -> Retriever:
    record, embeddings, store = open_collection(collection, embedding_model)
    conn = registry.connect()
    known = registered_ids(conn, collection)  # an ingest running now may have written chunks not yet registered
    if not known:
        raise BadInput(
            f"collection '{collection}' is empty (0 chunks); add documents with "
            f"`llmdeck rag ingest PATH --collection {collection}`"
        )
    return Retriever(collection, record, embeddings, store, known, progress)


def query(
    collection: str,
    question: str,
    k: int = 5,
    embedding_model: str | None = None,
    retrieval: str | None = None,
    rerank: bool | None = None,
    rerank_model: str | None = None,
    reranker=None,
) -> list[Hit]:
    """The `k` chunks best matching `question`, best first, each with text, metadata (source...) and score.
    `retrieval`: dense, bm25 or hybrid (reciprocal rank fusion of both); None: config.toml's, default hybrid.
    `rerank` (None: config.toml's) or a `rerank_model`: the top hits reordered by a model (rag/rerank.py);
    `reranker`: one already opened."""
    if not question.strip():
        raise BadInput("query: the question is empty")
    if k < 1:
        raise BadInput(f"-k {k}: expected at least 1")
    mode = retrieval_mode(retrieval)
    retriever = open_retriever(collection, embedding_model)
    if reranker is None:
        reranker = reranker_for(rerank, rerank_model)
    return retriever.search(question, k, mode, reranker)
