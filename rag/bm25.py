"""A BM25 keyword index kept next to each collection (`$LLMDECK_HOME/vectors/bm25/NAME.npz`), by `bm25s`.

One file per collection holds the chunk ids, texts and metadata and bm25s's sparse score matrix; it is
written to a temp name and renamed (core/atomic.py), so it is whole or absent. It records a fingerprint of
the chunk ids it covers: when that is not the registry's (an index older than the collection, an ingest
killed between its registry commit and the index write, a collection from before indexes), the first use
syncs it — keeps what is still registered, fetches the rest from the vector store — and writes it again.
The registry stays the truth: the index never returns a chunk the registry does not know.

Stemming uses PyStemmer when it is installed (the index records which), else none.

A query reads a saved index without importing bm25s (its import pulls scipy: ~0.2 s of a cold `rag query`):
`SavedScores` sums the saved score matrix's columns exactly as bm25s does. A process keeps the index it read
until the file changes (each save is a new file), so its next query does not parse every chunk again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import re
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


TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default (scikit-learn's CountVectorizer)


def query_terms(question: str, stemmer: str, vocabulary: dict[str, int]) -> list[str]:
    """The question's terms that the index knows, as `tokenize` would give them, repeats kept. Without a stemmer
    this needs no bm25s: the index holds no stopword (they were dropped when it was built), so keeping only
    known terms drops them too; with one, stopwords go before stemming, so bm25s's own tokenizer runs."""
    if stemmer:
        terms = tokenize([question], stemmer)[0]
    else:
        terms = TOKEN_PATTERN.findall(question.lower())
    return [t for t in terms if t in vocabulary]


class SavedScores:
    """A saved index's score matrix (bm25s's CSC arrays: one column of per-chunk scores per term) and its
    vocabulary: `get_scores` adds up the columns in the query's order, as bm25s's numpy backend does."""

    def __init__(self, scores: dict[str, Any], vocab_dict: dict[str, int]):
        self.scores, self.vocab_dict = scores, vocab_dict

    def get_scores(self, terms: list[str]):
        import numpy as np

        data, indices, indptr = self.scores["data"], self.scores["indices"], self.scores["indptr"]
        total = np.zeros(self.scores["num_docs"], dtype=np.float32)
        for term_id in (self.vocab_dict[t] for t in terms):
            start, end = indptr[term_id], indptr[term_id + 1]
            np.add.at(total, indices[start:end], data[start:end])
        return total


@dataclass
class Bm25Index:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict]
    stemmer: str
    retriever: Any  # bm25s.BM25 (built here) or SavedScores (loaded), or None for an empty index

    @functools.cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.ids)

    def covers(self, registered: set[str]) -> bool:
        """Does it hold exactly the `registered` chunks? (Its fingerprint equals theirs, without hashing.)"""
        return len(self.ids) == len(registered) and self._id_set == registered

    @functools.cached_property
    def _id_set(self) -> frozenset[str]:
        return frozenset(self.ids)

    def search(self, question: str, k: int) -> list[Hit]:
        """The `k` best chunks by BM25 score, best first; chunks that share no term with the question are left out."""
        if self.retriever is None or not self.ids:
            return []
        tokens = query_terms(question, self.stemmer, self.retriever.vocab_dict)
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


_read: dict[Path, tuple[tuple[int, int, int], Bm25Index]] = {}  # path -> (the file's identity, what it held)


def load(collection: str) -> Bm25Index | None:
    """The saved index, or None when there is none or it cannot be read (it is rebuilt then); the same object
    again while the file is the one this process last read (same inode, size and mtime)."""
    path = index_path(collection)
    try:
        status = path.stat()
    except OSError:
        return None
    identity = (status.st_ino, status.st_size, status.st_mtime_ns)
    known = _read.get(path)
    if known is not None and known[0] == identity:
        return known[1]
    index = _load_file(path) if path.is_file() else None
    if index is None:
        _read.pop(path, None)
    else:
        _read[path] = (identity, index)
    return index


def _load_file(path: Path) -> Bm25Index | None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            if meta.get("format") != FORMAT:
                return None
            ids, texts, metadatas = json.loads(saved["chunks"].tobytes().decode("utf-8"))
            retriever = None
            if ids:  # the default (lucene) method has no non-occurrence scores to add
                scores = {"data": saved["data"], "indices": saved["indices"], "indptr": saved["indptr"]}
                vocab = {str(term): int(i) for term, i in zip(saved["vocab_terms"], saved["vocab_ids"])}
                retriever = SavedScores({**scores, "num_docs": len(ids)}, vocab)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):  # damaged: rebuilt on use
        return None
    if not (len(ids) == len(texts) == len(metadatas)):
        return None
    return Bm25Index(ids, texts, metadatas, str(meta.get("stemmer", "")), retriever)


def remove(collection: str) -> None:
    _read.pop(index_path(collection), None)
    index_path(collection).unlink(missing_ok=True)


def state(collection: str, registered: set[str]) -> str:
    """ "ok", "missing" or "stale" (its chunks are not the registry's) — cheap: no store access."""
    index = load(collection)
    if index is None:
        return "missing"
    return "ok" if index.covers(registered) else "stale"


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
    if saved is not None and saved.covers(registered):
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
