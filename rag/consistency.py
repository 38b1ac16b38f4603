"""Does a collection's vector store hold exactly the chunks its registry records? Check, and repair.

The registry is the truth: a chunk in the store that the registry does not know (a failed or killed ingest
whose rollback failed too, e.g. on a full disk) is deleted; a registered chunk the store lost makes its source
file forgotten, so the next `rag ingest` embeds that file again. Queries never return an unregistered chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.core import locks
from llmdeck.rag import registry
from llmdeck.rag.ingest import reconcile
from llmdeck.rag.stores import Store, chroma_client, default_location, open_store


@dataclass
class CollectionState:
    """Registry vs store for one collection (`unregistered`: in the store only; `missing`: registry only)."""

    name: str
    store: str
    registered: int
    stored: int
    unregistered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pending: bool = False  # a killed ingest's notes are still there

    @property
    def agrees(self) -> bool:
        return self.registered == self.stored and not self.unregistered and not self.missing and not self.pending

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "store": self.store,
            "registered_chunks": self.registered,
            "stored_vectors": self.stored,
            "unregistered": len(self.unregistered),
            "missing": len(self.missing),
            "pending": self.pending,
            "agrees": self.agrees,
        }


def registered_ids(conn, name: str) -> set[str]:
    return {chunk_id for entry in registry.sources(conn, name).values() for chunk_id in entry["chunk_ids"]}


def _target(record: registry.CollectionRecord) -> Store:
    # another process may have written it: a fresh client sees what it wrote
    return open_store(record.store, record.name, record.location, None, record.dimension, time.time())


def inspect(conn, record: registry.CollectionRecord, target: Store | None = None) -> CollectionState:
    target = target or _target(record)
    known = registered_ids(conn, record.name)
    stored_ids = target.ids()
    if stored_ids is None:  # a backend that cannot list: the counts tell whether they agree
        stored = target.count()
        return CollectionState(
            record.name, record.store, len(known), stored, pending=registry.has_pending(conn, record.name)
        )
    ids = set(stored_ids)
    return CollectionState(
        record.name,
        record.store,
        len(known),
        len(ids),
        sorted(ids - known),
        sorted(known - ids),
        registry.has_pending(conn, record.name),
    )


def drop_unregistered(conn, record: registry.CollectionRecord, target: Store) -> int:
    """Delete from the store the chunks the registry does not know (the caller holds the collection's lock)."""
    if target.count() == len(registered_ids(conn, record.name)):
        return 0  # the cheap check first: equal counts after `reconcile` mean nothing extra
    state = inspect(conn, record, target)
    if state.unregistered:
        target.delete(state.unregistered)
        target.settled()
    return len(state.unregistered)


def repair(conn, name: str) -> CollectionState:
    """Make store == registry for `name` (see the module doc); returns the state found before the repair."""
    with locks.exclusive("collection", name):
        record = registry.get(conn, name)
        before = inspect(conn, record)
        reconcile(conn, name)
        target = _target(record)
        state = inspect(conn, record, target)
        if state.unregistered:
            target.delete(state.unregistered)
        if state.missing:
            lost = set(state.missing)
            stale = {
                path: entry["chunk_ids"]
                for path, entry in registry.sources(conn, name).items()
                if lost & set(entry["chunk_ids"])
            }
            registry.forget_sources(conn, name, list(stale))
            leftover = sorted({chunk_id for ids in stale.values() for chunk_id in ids} - lost)
            if leftover:
                target.delete(leftover)
        target.settled()
    return before


def orphan_collections(conn) -> list[str]:
    """Collections in the default Chroma directory that the registry does not record (nor an ingest is creating)."""
    location = default_location("chroma")
    if not (Path(location) / "chroma.sqlite3").exists():
        return []
    client = chroma_client(location, time.time())
    names = [getattr(c, "name", c) for c in client.list_collections()]
    known = {record.name for record in registry.all_records(conn)}
    return sorted(str(name) for name in names if name not in known and not registry.has_pending(conn, str(name)))


def drop_orphan(name: str) -> None:
    with locks.exclusive("collection", name):
        open_store("chroma", name, default_location("chroma"), None, 0, time.time()).drop()
