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


def query(collection: str, question: str, k: int = 5, embedding_model: str | None = None) -> list[Hit]:
    """The `k` chunks closest to `question`, best first, each with text, metadata (source...) and score."""
    if not question.strip():
        raise BadInput("query: the question is empty")
    if k < 1:
        raise BadInput(f"-k {k}: expected at least 1")
    record, embeddings, store = open_collection(collection, embedding_model)
    conn = registry.connect()
    if registry.counts(conn, collection)[1] == 0:
        raise BadInput(
            f"collection '{collection}' is empty (0 chunks); add documents with "
            f"`llmdeck rag ingest PATH --collection {collection}`"
        )
    known = registered_ids(conn, collection)  # an ingest running now may have written chunks not yet registered
    return [hit for hit in store.search(embeddings.embed_query(question), k) if not hit.id or hit.id in known]
