"""The collection registry (SQLite, component "rag"): which store holds a collection, its embedding
model and dimension, and per source file the content digest and chunk ids (for incremental ingest)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from llmdeck.core import db
from llmdeck.core.errors import BadInput, NotFound

MIGRATIONS = [
    """
    CREATE TABLE rag_collections (
        name TEXT PRIMARY KEY,
        store TEXT NOT NULL,
        location TEXT NOT NULL,
        embedding_model TEXT NOT NULL,
        dimension INTEGER NOT NULL,
        chunk_size INTEGER NOT NULL,
        chunk_overlap INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE rag_sources (
        collection TEXT NOT NULL REFERENCES rag_collections(name) ON DELETE CASCADE,
        path TEXT NOT NULL,
        digest TEXT NOT NULL,
        chunk_ids TEXT NOT NULL,
        ingested_at REAL NOT NULL,
        PRIMARY KEY (collection, path)
    );
    """,
    # intent, recorded before the vector store is written: a killed ingest leaves these rows, and the next
    # ingest or query removes from the store whatever the registry does not know (so store == registry)
    """
    CREATE TABLE rag_pending (
        collection TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('add', 'delete')),
        PRIMARY KEY (collection, chunk_id, op)
    );
    CREATE TABLE rag_pending_collections (
        name TEXT PRIMARY KEY,
        store TEXT NOT NULL,
        location TEXT NOT NULL,
        dimension INTEGER NOT NULL
    );
    """,
]

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,44}[a-z0-9]$")


@dataclass
class CollectionRecord:
    name: str
    store: str
    location: str
    embedding_model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    created_at: float
    updated_at: float


def check_name(name: str) -> str:
    """Collection names work in every store: 3-46 chars, lowercase letters, digits and '-' (Pinecone's rule)."""
    if not NAME_PATTERN.match(name or ""):
        raise BadInput(
            f"collection name {name!r}: expected 3-46 lowercase letters, digits or '-', "
            "starting and ending alphanumeric"
        )
    return name


def connect() -> sqlite3.Connection:
    return db.connection("rag", MIGRATIONS)


def find(conn: sqlite3.Connection, name: str) -> CollectionRecord | None:
    row = conn.execute("SELECT * FROM rag_collections WHERE name = ?", (name,)).fetchone()
    return CollectionRecord(**dict(row)) if row else None


def get(conn: sqlite3.Connection, name: str) -> CollectionRecord:
    record = find(conn, name)
    if record is None:
        known = ", ".join(r["name"] for r in conn.execute("SELECT name FROM rag_collections ORDER BY name")) or "none"
        raise NotFound(f"collection '{name}' not found (known: {known}; create it with `llmdeck rag ingest`)")
    return record


def all_records(conn: sqlite3.Connection) -> list[CollectionRecord]:
    return [CollectionRecord(**dict(r)) for r in conn.execute("SELECT * FROM rag_collections ORDER BY name")]


def sources(conn: sqlite3.Connection, name: str) -> dict[str, dict]:
    """path -> {"digest", "chunk_ids"} for every source file of a collection."""
    rows = conn.execute("SELECT path, digest, chunk_ids FROM rag_sources WHERE collection = ?", (name,))
    return {r["path"]: {"digest": r["digest"], "chunk_ids": json.loads(r["chunk_ids"])} for r in rows}


def begin_collection(conn: sqlite3.Connection, record: CollectionRecord) -> None:
    """Note a collection about to be created in its store (dropped again if the ingest never commits)."""
    conn.execute(
        "INSERT OR REPLACE INTO rag_pending_collections (name, store, location, dimension) VALUES (?, ?, ?, ?)",
        (record.name, record.store, record.location, record.dimension),
    )


def record_pending(conn: sqlite3.Connection, name: str, chunk_ids: list[str], op: str) -> None:
    """Note chunk ids about to be written to ('add') or removed from ('delete') the store."""
    with db.transaction(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO rag_pending (collection, chunk_id, op) VALUES (?, ?, ?)",
            [(name, chunk_id, op) for chunk_id in chunk_ids],
        )


def pending(conn: sqlite3.Connection, name: str) -> tuple[dict | None, list[str]]:
    """(the pending creation of `name`, or None; chunk ids written or to delete that are not registered)."""
    created = conn.execute("SELECT * FROM rag_pending_collections WHERE name = ?", (name,)).fetchone()
    ids = {row["chunk_id"] for row in conn.execute("SELECT chunk_id FROM rag_pending WHERE collection = ?", (name,))}
    known = {chunk_id for entry in sources(conn, name).values() for chunk_id in entry["chunk_ids"]}
    return (dict(created) if created else None), sorted(ids - known)


def has_pending(conn: sqlite3.Connection, name: str) -> bool:
    """Cheap check (no source parsing): did an ingest of `name` leave notes behind?"""
    return bool(
        conn.execute("SELECT 1 FROM rag_pending WHERE collection = ? LIMIT 1", (name,)).fetchone()
        or conn.execute("SELECT 1 FROM rag_pending_collections WHERE name = ?", (name,)).fetchone()
    )


def clear_pending(conn: sqlite3.Connection, name: str) -> None:
    with db.transaction(conn):
        conn.execute("DELETE FROM rag_pending WHERE collection = ?", (name,))
        conn.execute("DELETE FROM rag_pending_collections WHERE name = ?", (name,))


def save_ingest(
    conn: sqlite3.Connection,
    record: CollectionRecord,
    changed: dict[str, dict],
    removed_paths: list[str],
    stale_ids: Sequence[str] = (),
) -> None:
    """Insert/update the collection and its changed sources in one transaction; the chunks written are now
    registered, and the stale ones become pending deletes (removed from the store next)."""
    now = time.time()
    with db.transaction(conn):
        conn.execute(
            "INSERT INTO rag_collections (name, store, location, embedding_model, dimension, chunk_size, chunk_overlap,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET updated_at = excluded.updated_at",
            (
                record.name,
                record.store,
                record.location,
                record.embedding_model,
                record.dimension,
                record.chunk_size,
                record.chunk_overlap,
                record.created_at,
                now,
            ),
        )
        for path, entry in changed.items():
            conn.execute(
                "INSERT OR REPLACE INTO rag_sources (collection, path, digest, chunk_ids, ingested_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.name, path, entry["digest"], json.dumps(entry["chunk_ids"]), now),
            )
        for path in removed_paths:
            conn.execute("DELETE FROM rag_sources WHERE collection = ? AND path = ?", (record.name, path))
        conn.execute("DELETE FROM rag_pending WHERE collection = ? AND op = 'add'", (record.name,))
        conn.execute("DELETE FROM rag_pending_collections WHERE name = ?", (record.name,))
        conn.executemany(
            "INSERT OR IGNORE INTO rag_pending (collection, chunk_id, op) VALUES (?, ?, 'delete')",
            [(record.name, chunk_id) for chunk_id in stale_ids],
        )


def delete(conn: sqlite3.Connection, name: str) -> None:
    with db.transaction(conn):
        conn.execute("DELETE FROM rag_collections WHERE name = ?", (name,))
        conn.execute("DELETE FROM rag_pending WHERE collection = ?", (name,))
        conn.execute("DELETE FROM rag_pending_collections WHERE name = ?", (name,))


def counts(conn: sqlite3.Connection, name: str) -> tuple[int, int]:
    """(source files, chunks) recorded for a collection."""
    n_sources, n_chunks = 0, 0
    for row in conn.execute("SELECT chunk_ids FROM rag_sources WHERE collection = ?", (name,)):
        n_sources += 1
        n_chunks += len(json.loads(row["chunk_ids"]))
    return n_sources, n_chunks


def forget_sources(conn: sqlite3.Connection, name: str, source_paths: list[str]) -> None:
    """Drop source files from a collection's record (their chunks are gone): the next ingest embeds them again."""
    with db.transaction(conn):
        conn.executemany(
            "DELETE FROM rag_sources WHERE collection = ? AND path = ?", [(name, path) for path in source_paths]
        )
