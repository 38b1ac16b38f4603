"""Vector store backends behind one small interface, registered by name ("chroma", "pinecone").

Each wraps the LangChain vector store of that database (langchain-chroma, langchain-pinecone) and
always passes our embeddings: never Chroma's built-in default embedding function (it downloads).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmdeck.core import paths
from llmdeck.core.errors import BadInput, LlmdeckError


@dataclass
class Hit:
    text: str
    metadata: dict
    score: float
    id: str = ""  # the chunk id (queries drop hits whose id the registry does not know)


class Store:
    """What ingest and retrieval need from a vector database."""

    name: str = ""
    touched: bool = False  # set once this process has written to the store (rollback needed on failure)

    def __init__(self, collection: str, location: str, embeddings, dimension: int, changed_at: float | None = None):
        self.collection, self.location, self.embeddings, self.dimension = collection, location, embeddings, dimension
        self.changed_at = changed_at  # when another process last wrote the collection (stale clients reopen)

    def add(self, ids: list[str], texts: list[str], metadatas: list[dict], vectors: list[list[float]]) -> None:
        raise NotImplementedError

    def delete(self, ids: list[str]) -> None:
        raise NotImplementedError

    def search(self, vector: list[float], k: int) -> list[Hit]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def ids(self) -> list[str] | None:
        """Every chunk id in the store, or None where the backend cannot list them (counts are compared then)."""
        return None

    def drop(self) -> None:
        raise NotImplementedError

    def texts(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        """id -> (text, metadata) for those of `ids` the store holds (the BM25 index is rebuilt from these)."""
        raise NotImplementedError

    def settled(self) -> None:
        """This process's writes are now in the registry too: its own client is not stale because of them."""


# -- Chroma (embedded persistent, or a `chroma run` server) ------------------------------------------
_chroma_clients: dict[str, Any] = {}
_chroma_opened_at: dict[str, float] = {}


def chroma_client(location: str, changed_at: float | None = None):
    """A persistent client for a directory, an HTTP client for http(s)://host:port; one per location.

    Embedded Chroma caches its index in memory: a client opened before another llmdeck process wrote the
    collection (`changed_at`, from the registry) would read a stale index, so it is closed and reopened.
    """
    remote = location.startswith(("http://", "https://"))
    if (
        location in _chroma_clients
        and not remote
        and changed_at is not None
        and changed_at >= _chroma_opened_at[location]
    ):
        stale = _chroma_clients.pop(location)
        try:
            stale.close()
        except Exception:  # noqa: BLE001 - a client that cannot close cleanly is dropped all the same
            pass
    if location not in _chroma_clients:
        _chroma_opened_at[location] = time.time()
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if location.startswith(("http://", "https://")):
            from urllib.parse import urlparse

            url = urlparse(location)
            try:
                client = chromadb.HttpClient(
                    host=url.hostname or "",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=settings,
                )
                client.heartbeat()
            except Exception as exc:
                raise LlmdeckError(f"chroma server at {location}: unreachable ({type(exc).__name__}: {exc})") from None
        else:
            client = chromadb.PersistentClient(path=location, settings=settings)
        _chroma_clients[location] = client
    return _chroma_clients[location]


class ChromaStore(Store):
    name = "chroma"

    @property
    def _vectorstore(self):
        """The langchain-chroma store (created once; it gets or creates the Chroma collection)."""
        if not hasattr(self, "_cached"):
            from langchain_chroma import Chroma

            self._cached = Chroma(
                collection_name=self.collection,
                embedding_function=self.embeddings,
                client=chroma_client(self.location, self.changed_at),
                collection_metadata={"hnsw:space": "cosine"},
            )
        return self._cached

    @property
    def _collection(self):
        """chromadb's collection, got or created as langchain-chroma does (no embedding function of Chroma's):
        reads and writes need no langchain-chroma, whose import (with the tracing stack) costs a cold query ~2 s."""
        if hasattr(self, "_cached"):
            return self._cached._collection
        if not hasattr(self, "_raw"):
            client = chroma_client(self.location, self.changed_at)
            self._raw = client.get_or_create_collection(
                name=self.collection, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        return self._raw

    def add(self, ids, texts, metadatas, vectors):
        self.touched = True
        # the vectors are already computed in large batches by ingest: upsert them directly
        self._collection.upsert(ids=ids, documents=texts, metadatas=metadatas, embeddings=vectors)

    def delete(self, ids):
        for start in range(0, len(ids), 5000):
            self._collection.delete(ids=ids[start : start + 5000])

    def search(self, vector, k):
        # cosine distance back to similarity, so every store reports "higher is closer"
        collection = self._collection
        got = collection.query(
            query_embeddings=[list(vector)], n_results=k, include=["documents", "metadatas", "distances"]
        )
        ids, texts = got["ids"][0], (got["documents"] or [[]])[0]
        metadatas, distances = (got["metadatas"] or [[]])[0], (got["distances"] or [[]])[0]
        return [
            Hit(text or "", dict(metadata or {}), 1.0 - float(distance), chunk_id)
            for chunk_id, text, metadata, distance in zip(ids, texts, metadatas, distances)
        ]

    def count(self):
        return self._collection.count()

    def ids(self):
        return list(self._collection.get(include=[])["ids"])

    def texts(self, ids):
        found: dict[str, tuple[str, dict]] = {}
        for start in range(0, len(ids), 5000):
            got = self._collection.get(ids=ids[start : start + 5000], include=["documents", "metadatas"])
            for chunk_id, text, metadata in zip(got["ids"], got["documents"] or [], got["metadatas"] or []):
                found[chunk_id] = (text or "", dict(metadata or {}))
        return found

    def drop(self):
        client = chroma_client(self.location, self.changed_at)
        try:
            client.delete_collection(self.collection)
        except Exception as exc:
            if "does not exist" not in str(exc):  # already gone is fine; a failed delete (a full disk) is not
                raise

    def settled(self):
        # the registry's changed_at is now later than this client's opening, yet the client holds the writes:
        # reopening it would only break the handles others hold (a closed client's collections stop working)
        if self.location in _chroma_clients:
            _chroma_opened_at[self.location] = time.time()


# -- Pinecone (official client; serverless index created on demand) ---------------------------------
PINECONE_RETRIES = 4


def with_retries(what: str, call: Callable[[], Any], retries: int = PINECONE_RETRIES, first_delay: float = 0.25):
    """Retry transient failures (connection errors, 5xx, 429) with exponential backoff, then one clear error."""
    delay = 0.0
    for attempt in range(1, retries + 1):
        time.sleep(delay)
        try:
            return call()
        except Exception as exc:  # the client raises urllib3/HTTP errors of several kinds
            status = getattr(exc, "status", None)
            if status is not None and status < 500 and status != 429:
                raise LlmdeckError(f"pinecone {what}: HTTP {status} ({_first_line(exc)})") from None
            if attempt == retries:
                raise LlmdeckError(
                    f"pinecone {what}: failed after {retries} attempts ({type(exc).__name__}: {_first_line(exc)})"
                ) from None
            delay = first_delay * 2 ** (attempt - 1)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    if "NewConnectionError" in text or "Connection refused" in text or isinstance(exc, ConnectionError):
        return "connection refused"
    return (str(exc).strip().splitlines() or [""])[0][:200]


def pinecone_client(host: str | None = None):
    """The official client; `host` (or PINECONE_HOST) overrides the control plane, e.g. a local emulator."""
    from pinecone import Pinecone

    api_key = os.environ.get("PINECONE_API_KEY")
    if not api_key:
        raise BadInput("pinecone: set PINECONE_API_KEY in the environment")
    host = host or os.environ.get("PINECONE_HOST") or None
    client = Pinecone(api_key=api_key, host=host) if host else Pinecone(api_key=api_key)
    # one retry policy (ours, with backoff and one clear error) instead of urllib3's nested retries;
    # the SDK has no public option for it, its REST clients read this config when they are built
    client._openapi_config.retries = 0
    return client


class PineconeStore(Store):
    """location: the control-plane host ("" for Pinecone's cloud). Index name = collection name."""

    name = "pinecone"
    _cached_index: Any  # the data-plane Index, set once opened

    def _index(self, create: bool = False):
        if hasattr(self, "_cached_index"):
            return self._cached_index
        client = pinecone_client(self.location or None)
        names = with_retries(
            f"list indexes at {self.location or 'api.pinecone.io'}", lambda: [i["name"] for i in client.list_indexes()]
        )
        if self.collection not in names:
            if not create:
                raise LlmdeckError(f"pinecone index '{self.collection}' does not exist")
            from pinecone import ServerlessSpec

            # read when the index is created, not at import: the environment may change in between
            spec = ServerlessSpec(
                cloud=os.environ.get("PINECONE_CLOUD", "aws"), region=os.environ.get("PINECONE_REGION", "us-east-1")
            )
            with_retries(
                "create index",
                lambda: client.create_index(name=self.collection, dimension=self.dimension, metric="cosine", spec=spec),
            )
        description = with_retries("describe index", lambda: client.describe_index(self.collection))
        if int(description.dimension) != self.dimension:
            raise BadInput(
                f"pinecone index '{self.collection}' has dimension {description.dimension}, "
                f"the embedding model gives {self.dimension}"
            )
        index_host = description.host
        if self.location and not index_host.startswith("http"):
            index_host = "http://" + index_host
        self._cached_index = client.Index(host=index_host)
        return self._cached_index

    def _vectorstore(self):
        from langchain_pinecone import PineconeVectorStore

        return PineconeVectorStore(index=self._index(), embedding=self.embeddings, text_key="text")

    def add(self, ids, texts, metadatas, vectors):
        self.touched = True
        index = self._index(create=True)
        records = [
            {"id": i, "values": v, "metadata": {**m, "text": t}} for i, t, m, v in zip(ids, texts, metadatas, vectors)
        ]
        for start in range(0, len(records), 100):
            batch = records[start : start + 100]
            with_retries("upsert", lambda: index.upsert(vectors=batch))

    def delete(self, ids):
        index = self._index()
        for start in range(0, len(ids), 1000):
            batch = ids[start : start + 1000]
            with_retries("delete", lambda: index.delete(ids=batch))

    def search(self, vector, k):
        store = self._vectorstore()
        pairs = with_retries("query", lambda: store.similarity_search_by_vector_with_score(vector, k=k))
        return [Hit(doc.page_content, _int_fields(doc.metadata), float(score), doc.id or "") for doc, score in pairs]

    def texts(self, ids):
        index = self._index()
        found: dict[str, tuple[str, dict]] = {}
        for start in range(0, len(ids), 100):  # ids travel in the URL of a GET
            batch = ids[start : start + 100]
            got = with_retries("fetch", lambda: index.fetch(ids=batch))
            for chunk_id, vector in (got.vectors or {}).items():
                metadata = dict(vector.metadata or {})
                found[chunk_id] = (str(metadata.pop("text", "")), _int_fields(metadata))
        return found

    def count(self):
        stats = with_retries("describe index stats", lambda: self._index().describe_index_stats())
        return int(stats.total_vector_count)

    def drop(self):
        client = pinecone_client(self.location or None)
        names = with_retries(
            f"list indexes at {self.location or 'api.pinecone.io'}", lambda: [i["name"] for i in client.list_indexes()]
        )
        if self.collection in names:
            with_retries("delete index", lambda: client.delete_index(self.collection))


def _int_fields(metadata: dict) -> dict:
    """Pinecone returns every number as a float: chunk index and page go back to ints."""
    return {k: int(v) if k in ("chunk", "page") and isinstance(v, float) else v for k, v in metadata.items()}


STORES: dict[str, type[Store]] = {"chroma": ChromaStore, "pinecone": PineconeStore}


def default_location(store: str, chroma_url: str | None = None, pinecone_host: str | None = None) -> str:
    if store == "chroma":
        return chroma_url.rstrip("/") if chroma_url else str(paths.vectors_dir() / "chroma")
    if store == "pinecone":
        return pinecone_host or os.environ.get("PINECONE_HOST", "")
    raise BadInput(f"--store {store!r}: expected one of {', '.join(sorted(STORES))}")


def open_store(
    store: str, collection: str, location: str, embeddings, dimension: int, changed_at: float | None = None
) -> Store:
    if store not in STORES:
        raise BadInput(f"store {store!r}: expected one of {', '.join(sorted(STORES))}")
    return STORES[store](collection, location, embeddings, dimension, changed_at)
