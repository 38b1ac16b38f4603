"""`llmdeck rag ingest`: incremental, idempotent ingestion of files into a collection.

Unchanged files (same content digest) are skipped without loading or embedding; a changed file
embeds only its new chunks and drops the ones that disappeared; `prune` drops vanished files.
Embeddings are computed in large batches. A failure leaves no partial collection state.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.core import db, locks, paths
from llmdeck.core.diskspace import LOW_SPACE_BYTES, disk_full, free_bytes, message
from llmdeck.core.errors import BadInput, DiskFull, LlmdeckError
from llmdeck.rag import registry
from llmdeck.rag.documents import Chunk, discover_files, file_digest, split_file
from llmdeck.rag.embeddings import embedding_dimension, load_embeddings, resolve_embedding
from llmdeck.rag.stores import default_location, open_store

EMBED_BATCH = 256


@dataclass
class IngestSummary:
    collection: str
    store: str
    files_seen: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_pruned: int = 0
    chunks_added: int = 0
    chunks_updated: int = 0
    chunks_skipped: int = 0
    chunks_removed: int = 0
    skipped_files: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    chunks_per_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Plan:
    new_chunks: list[Chunk] = field(default_factory=list)
    stale_ids: list[str] = field(default_factory=list)
    changed: dict[str, dict] = field(default_factory=dict)
    removed_paths: list[str] = field(default_factory=list)


def ingest(
    inputs: list[str | Path],
    collection: str,
    store: str | None = None,
    *,
    chroma_url: str | None = None,
    pinecone_host: str | None = None,
    embedding_model: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
    prune: bool = False,
    follow_links: bool = False,
    progress: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> IngestSummary:
    """Ingest files/directories into `collection`, creating it on first use. `progress` draws bars on stderr;
    `on_progress(phase, done, total)` is called as files are read ("reading") and chunks embedded ("embedding").

    BadInput (and nothing stored, no empty collection) when no file under `inputs` can be ingested.
    """
    started = time.perf_counter()
    registry.check_name(collection)
    if chunk_size < 50 or not 0 <= chunk_overlap < chunk_size:
        raise BadInput(
            f"chunk size {chunk_size} / overlap {chunk_overlap}: expected size >= 50 and 0 <= overlap < size"
        )
    found = discover_files(inputs, include, exclude, follow_links=follow_links)
    if not found.files and not prune:
        raise BadInput(f"nothing to ingest into '{collection}': {_nothing_found(inputs, found.skipped)}")
    with locks.exclusive("collection", collection):
        conn = registry.connect()
        _reconcile_before_writing(conn, collection)
        record = _collection_record(
            conn, collection, store, chroma_url, pinecone_host, embedding_model, chunk_size, chunk_overlap
        )
        summary = IngestSummary(collection, record.store, files_seen=len(found.files), skipped_files=found.skipped)
        known_sources = registry.sources(conn, collection)
        plan = _plan(found.files, known_sources, record, summary, progress, on_progress)
        if prune:
            seen = {str(p) for p in found.files}
            for path, entry in known_sources.items():
                if path not in seen:
                    plan.removed_paths.append(path)
                    plan.stale_ids += entry["chunk_ids"]
            summary.files_pruned = len(plan.removed_paths)
        summary.chunks_removed = len(plan.stale_ids)
        is_new = registry.find(conn, collection) is None
        if not plan.changed and not plan.removed_paths and (is_new or summary.files_unchanged == 0):
            raise BadInput(f"nothing to ingest into '{collection}': {_nothing_found(inputs, summary.skipped_files)}")
        if is_new and not plan.new_chunks:
            raise BadInput(f"nothing to ingest into '{collection}': the files hold no text")
        if is_new:
            record.dimension = embedding_dimension(load_embeddings(resolve_embedding(record.embedding_model)))
        _apply(conn, record, plan, is_new=is_new, progress=progress, on_progress=on_progress)
    summary.seconds = round(time.perf_counter() - started, 3)
    written = summary.chunks_added + summary.chunks_updated
    summary.chunks_per_s = round(written / summary.seconds, 1) if summary.seconds else 0.0
    return summary


def _collection_record(conn, name, store, chroma_url, pinecone_host, embedding_model, chunk_size, chunk_overlap):
    existing = registry.find(conn, name)
    spec = resolve_embedding(embedding_model or (existing.embedding_model if existing else None))
    if existing:
        if store and store != existing.store:
            raise BadInput(f"collection '{name}' lives in {existing.store}, not {store}")
        if spec.name != existing.embedding_model:
            raise BadInput(
                f"collection '{name}' was embedded with '{existing.embedding_model}', not '{spec.name}'"
                " (re-create it to change the embedding model)"
            )
        location = default_location(existing.store, chroma_url, pinecone_host)
        if chroma_url or pinecone_host:
            if location != existing.location:
                raise BadInput(f"collection '{name}' lives at {existing.location}, not {location}")
        return existing
    store = store or "chroma"
    location = default_location(store, chroma_url, pinecone_host)
    now = time.time()  # the dimension is measured once there is something to embed
    return registry.CollectionRecord(name, store, location, spec.name, 0, chunk_size, chunk_overlap, now, now)


def _plan(files, known_sources, record, summary, progress, on_progress=None) -> _Plan:
    from tqdm import tqdm

    plan = _Plan()
    for index, path in enumerate(
        tqdm(files, desc="reading", unit="file", file=sys.stderr, disable=not progress, leave=False)
    ):
        if on_progress:
            on_progress("reading", index, len(files))
        digest = file_digest(path)
        known = known_sources.get(str(path))
        if known and known["digest"] == digest:
            summary.files_unchanged += 1
            summary.chunks_skipped += len(known["chunk_ids"])
            continue
        try:
            chunks = split_file(path, record.chunk_size, record.chunk_overlap)
        except Exception as exc:  # a loader failure skips this file, never the whole ingest
            summary.skipped_files.append(
                {"path": str(path), "reason": f"cannot load ({type(exc).__name__}: {exc})"[:300]}
            )
            continue
        ids = [c.id for c in chunks]
        old_ids = set(known["chunk_ids"]) if known else set()
        fresh = [c for c in chunks if c.id not in old_ids]
        plan.new_chunks += fresh
        plan.stale_ids += sorted(old_ids - set(ids))
        plan.changed[str(path)] = {"digest": digest, "chunk_ids": ids}
        summary.files_changed += 1
        summary.chunks_skipped += len(chunks) - len(fresh)
        if known:
            summary.chunks_updated += len(fresh)
        else:
            summary.chunks_added += len(fresh)
    return plan


def _nothing_found(inputs, skipped: list[dict]) -> str:
    named = ", ".join(str(i) for i in inputs)
    if not skipped:
        return f"no supported files under {named}"
    first = skipped[0]
    return f"every file was skipped ({len(skipped)}; first {first['path']}: {first['reason']})"


def _apply(conn, record, plan: _Plan, is_new: bool, progress: bool, on_progress=None) -> None:
    """Embed and write new chunks in batches, commit the registry, then delete stale chunks.

    Every store write is preceded by a note of what it is about to write (`registry.record_pending`): a
    process killed at any point leaves notes that `reconcile` turns back into store == registry. On an
    error: a new collection is dropped entirely; an existing one loses the chunks just added.
    """
    from tqdm import tqdm

    local = _written_where(record) if record.store == "chroma" and _written_where(record) != paths.db_path() else None
    _check_space(local, _bytes_needed(plan, record.dimension))  # before anything is opened or written
    embeddings = load_embeddings(resolve_embedding(record.embedding_model))
    target = open_store(record.store, record.name, record.location, embeddings, record.dimension, record.updated_at)
    written: list[str] = []
    plan.new_chunks.sort(key=lambda c: len(c.text))  # similar lengths per batch: less padding in the encoder
    committed = False
    try:
        if is_new:
            with db.transaction(conn):
                registry.begin_collection(conn, record)
        bar = tqdm(total=len(plan.new_chunks), desc="embedding", unit="chunk", file=sys.stderr, disable=not progress)
        for start in range(0, len(plan.new_chunks), EMBED_BATCH):
            batch = plan.new_chunks[start : start + EMBED_BATCH]
            vectors = embeddings.embed_documents([c.text for c in batch])
            _check_space(local, 2 * LOW_SPACE_BYTES)  # the disk may fill meanwhile: stop between writes, not in one
            registry.record_pending(conn, record.name, [c.id for c in batch], "add")
            target.add([c.id for c in batch], [c.text for c in batch], [c.metadata for c in batch], vectors)
            written += [c.id for c in batch]
            bar.update(len(batch))
            if on_progress:
                on_progress("embedding", len(written), len(plan.new_chunks))
        bar.close()
        registry.save_ingest(conn, record, plan.changed, plan.removed_paths, plan.stale_ids)
        committed = True
        if plan.stale_ids:
            target.delete(plan.stale_ids)
        registry.clear_pending(conn, record.name)
        target.settled()
        from llmdeck.rag import bm25  # the keyword index follows the registry just committed (hybrid retrieval)

        bm25.after_ingest(conn, record.name, plan.new_chunks, target)
    except BaseException as exc:
        full = disk_full(exc, _written_where(record), _bytes_needed(plan, record.dimension))
        if not committed and _roll_back(target, written, is_new, quiet=full is not None):
            with contextlib.suppress(Exception):  # a full disk: the notes stay, and the next open reconciles
                registry.clear_pending(conn, record.name)
        if full is not None:
            raise full from None
        if isinstance(exc, LlmdeckError | KeyboardInterrupt):
            raise
        raise LlmdeckError(f"ingest into '{record.name}' failed: {type(exc).__name__}: {exc}") from exc


def _written_where(record) -> Path:
    """Where a full disk stops an ingest: the embedded Chroma's directory, else the registry's database."""
    if record.store == "chroma" and not record.location.startswith(("http://", "https://")):
        return Path(record.location)
    return paths.db_path()


def _check_space(path: Path | None, needed: int) -> None:
    """Refuse to write into embedded Chroma where there is less space than `needed`: a write that meets ENOSPC
    inside Chroma's Rust core can hang it (seen about 1 run in 3 on a full tmpfs), so a full disk is found
    before Chroma writes, and the ingest rolls back with the same one line as a failed write."""
    if path is None:
        return
    free = free_bytes(path)
    if free is not None and free < needed:
        raise DiskFull(message(path, needed))


def _bytes_needed(plan: _Plan, dimension: int) -> int:
    """A rough size of what the ingest writes: texts, float32 vectors and the index, twice for the store's log."""
    return 2 * sum(len(chunk.text.encode()) + 4 * max(dimension, 1) * 2 for chunk in plan.new_chunks)


def _reconcile_before_writing(conn, collection: str) -> None:
    """What a killed or failed ingest left: the pending notes, then any chunk the registry does not know
    (a rollback that failed, say on a full disk). A Chroma collection of that name that the registry does
    not know at all is dropped, so a new collection starts empty."""
    from llmdeck.rag.consistency import drop_unregistered

    reconcile(conn, collection)
    record = registry.find(conn, collection)
    if record is not None:  # a client opened before the last registered write reopens; others stay valid
        target = open_store(record.store, record.name, record.location, None, record.dimension, record.updated_at)
        drop_unregistered(conn, record, target)
    elif Path(default_location("chroma"), "chroma.sqlite3").exists():
        open_store("chroma", collection, default_location("chroma"), None, 0).drop()


def _roll_back(target, written: list[str], is_new: bool, quiet: bool = False) -> bool:
    """Undo this ingest's store writes; False (the pending notes stay for `reconcile`) if that failed too."""
    try:
        if is_new and target.touched:
            target.drop()
        elif written:
            target.delete(written)
        return True
    except Exception as exc:  # the original error matters more; say what is left behind
        if not quiet:
            print(
                f"warning: could not roll back '{target.collection}' now; the next ingest or query will ({exc})",
                file=sys.stderr,
            )
        return False


def reconcile(conn, name: str) -> int:
    """Make the store agree with the registry after a killed ingest (the caller holds the collection's lock):
    a collection whose creation never committed is dropped; unregistered chunk ids noted as written, and
    chunks noted for deletion, are removed. Returns how many chunk ids were removed (-1: a whole collection)."""
    if not registry.has_pending(conn, name):
        return 0
    created, orphans = registry.pending(conn, name)
    record = registry.find(conn, name)
    removed = 0
    now = time.time()  # the writer was another process: reopen the client so it sees what was written
    target = None
    if record is None and created:
        target = open_store(created["store"], name, created["location"], None, created["dimension"], now)
        target.drop()
        removed = -1
    elif record is not None and orphans:
        target = open_store(record.store, name, record.location, None, record.dimension, now)
        target.delete(orphans)
        removed = len(orphans)
    registry.clear_pending(conn, name)
    if target is not None:
        target.settled()
    return removed
