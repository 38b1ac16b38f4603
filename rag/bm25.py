"""A BM25 keyword index kept next to each collection (`$LLMDECK_HOME/vectors/bm25/NAME.npz`), by `bm25s`.

One file per collection holds the chunk ids, texts and metadata and bm25s's sparse score matrix; it is
written to a temp name and renamed (core/atomic.py), so it is whole or absent. It records a fingerprint of
the chunk ids it covers: when that is not the registry's (an index older than the collection, an ingest
killed between its registry commit and the index write, a collection from before indexes), the first use
syncs it — keeps what is still registered, fetches the rest from the vector store — and writes it again.
The registry stays the truth: the index never returns a chunk the registry does not know.

Stemming uses PyStemmer when it is installed (the index records which), else none.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeck.core import paths
from llmdeck.core.atomic import atomic_path
from llmdeck.rag.stores import Hit, Store

FORMAT = 2


def index_path(collection: str) -> Path:
    return paths.vectors_dir() / "bm25" / f"{collection}.npz"


def fingerprint(ids: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for chunk_id in sorted(ids):
        digest.update(chunk_id.encode() + b"\n")
    return digest.hexdigest()


def _module(name: str) -> Any:
    """bm25s and PyStemmer ship no type information: imported by name, typed Any."""
    return importlib.import_module(name)


def _stemmer_name() -> str:
    try:
        _module("Stemmer")  # PyStemmer, optional
    except ImportError:
        return ""
    return "english"


def _stemmer(name: str):
    return _module("Stemmer").Stemmer(name).stemWords if name else None


def tokenize(texts: list[str], stemmer: str = "") -> list[list[str]]:
    tokens = _module("bm25s").tokenize(
        texts, stopwords="en", stemmer=_stemmer(stemmer), return_ids=False, show_progress=False
    )
    return [list(t) for t in tokens]


@dataclass
class Bm25Index:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict]
    stemmer: str
    retriever: Any  # bm25s.BM25, or None for an empty index

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.ids)

    def search(self, question: str, k: int) -> list[Hit]:
        """The `k` best chunks by BM25 score, best first; chunks that share no term with the question are left out."""
        if self.retriever is None or not self.ids:
            return []
        tokens = [t for t in tokenize([question], self.stemmer)[0] if t in self.retriever.vocab_dict]
        if not tokens:
            return []
        scores = self.retriever.get_scores(tokens)
        order = scores.argsort()[::-1][:k]
        return [
            Hit(self.texts[i], dict(self.metadatas[i]), float(scores[i]), self.ids[i]) for i in order if scores[i] > 0
        ]


def build(ids: list[str], texts: list[str], metadatas: list[dict], stemmer: str | None = None) -> Bm25Index:
    stemmer = _stemmer_name() if stemmer is None else stemmer
    retriever = None
    if ids:
        retriever = _module("bm25s").BM25()
        retriever.index(tokenize(texts, stemmer), show_progress=False)
    return Bm25Index(list(ids), list(texts), [dict(m) for m in metadatas], stemmer, retriever)


def save(index: Bm25Index, collection: str) -> Path:
    import numpy as np

    target = index_path(collection)
    arrays: dict[str, Any] = {
        "meta": np.array(json.dumps({"format": FORMAT, "stemmer": index.stemmer, "fingerprint": index.fingerprint})),
        # one UTF-8 JSON blob: numpy's str arrays are 4 bytes a character, padded to the longest chunk
        "chunks": np.frombuffer(json.dumps([index.ids, index.texts, index.metadatas]).encode(), dtype=np.uint8),
    }
    if index.retriever is not None:
        scores = index.retriever.scores
        vocab = index.retriever.vocab_dict
        arrays.update(
            data=scores["data"],
            indices=scores["indices"],
            indptr=scores["indptr"],
            vocab_terms=np.array(list(vocab), dtype=str),
            vocab_ids=np.array(list(vocab.values()), dtype=np.int64),
        )
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return target


def load(collection: str) -> Bm25Index | None:
    """The saved index, or None when there is none or it cannot be read (it is rebuilt then)."""
    import numpy as np

    path = index_path(collection)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            if meta.get("format") != FORMAT:
                return None
            ids, texts, metadatas = json.loads(saved["chunks"].tobytes().decode("utf-8"))
            retriever = None
            if ids:
                retriever = _module("bm25s").BM25()
                retriever.scores = {
                    "data": saved["data"],
                    "indices": saved["indices"],
                    "indptr": saved["indptr"],
                    "num_docs": len(ids),
                }
                retriever.vocab_dict = {str(term): int(i) for term, i in zip(saved["vocab_terms"], saved["vocab_ids"])}
                retriever.unique_token_ids_set = set(retriever.vocab_dict.values())
                retriever.nonoccurrence_array = None  # the default (lucene) method has none
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):  # damaged: rebuilt on use
        return None
    if not (len(ids) == len(texts) == len(metadatas)):
        return None
    return Bm25Index(ids, texts, metadatas, str(meta.get("stemmer", "")), retriever)


def remove(collection: str) -> None:
    index_path(collection).unlink(missing_ok=True)


def state(collection: str, registered: set[str]) -> str:
    """ "ok", "missing" or "stale" (its chunks are not the registry's) — cheap: no store access."""
    index = load(collection)
    if index is None:
        return "missing"
    return "ok" if index.fingerprint == fingerprint(registered) else "stale"


def updated(
    collection: str,
    registered: set[str],
    known: dict[str, tuple[str, dict]],
    fetch: Callable[[list[str]], dict[str, tuple[str, dict]]] | None = None,
    progress: bool = False,
) -> Bm25Index:
    """The index of exactly the `registered` chunks: the saved one if it already is, else one built from what
    it holds, `known` (id -> (text, metadata), e.g. what an ingest just wrote) and `fetch` for the rest.
    A rebuilt index is saved (the caller holds the collection's lock, or accepts a racing writer: each save
    is whole, and a stale one is synced again on its next use)."""
    saved = load(collection)
    if saved is not None and saved.fingerprint == fingerprint(registered):
        return saved
    have: dict[str, tuple[str, dict]] = {}
    if saved is not None:
        have = {i: (t, m) for i, t, m in zip(saved.ids, saved.texts, saved.metadatas) if i in registered}
    have.update({i: v for i, v in known.items() if i in registered})
    missing = sorted(registered - set(have))
    if missing and fetch is not None:
        if progress:
            print(f"bm25 index of '{collection}': fetching {len(missing)} chunks from the store", file=sys.stderr)
        have.update({i: v for i, v in fetch(missing).items() if i in registered})
    ids = sorted(have)
    if progress:
        print(f"bm25 index of '{collection}': indexing {len(ids)} chunks", file=sys.stderr)
    index = build(ids, [have[i][0] for i in ids], [have[i][1] for i in ids])
    if set(ids) == registered:  # a store that lost chunks gets no index claiming to be complete
        save(index, collection)
    return index


def for_store(collection: str, registered: set[str], store: Store, progress: bool = True) -> Bm25Index:
    """The collection's index, synced with the registry (built from the store on first use)."""
    return updated(collection, registered, {}, store.texts, progress=progress)


def registered(conn, collection: str) -> set[str]:
    from llmdeck.rag import registry

    return {chunk_id for entry in registry.sources(conn, collection).values() for chunk_id in entry["chunk_ids"]}


def after_ingest(conn, collection: str, written: Iterable[Any], store: Store) -> None:
    """Bring the index up to the registry an ingest just committed (`written`: its new chunks, with .id, .text
    and .metadata). A failure here only warns: the next query syncs the index from the store."""
    try:
        known = {chunk.id: (chunk.text, dict(chunk.metadata)) for chunk in written}
        updated(collection, registered(conn, collection), known, store.texts)
    except Exception as exc:  # noqa: BLE001 - the vectors are committed; the index catches up on first use
        print(f"warning: bm25 index of '{collection}' not updated now; the next query will ({exc})", file=sys.stderr)
