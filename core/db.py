"""The SQLite state database: WAL mode, numbered migrations per component (simonw/llm's pattern).

One connection per process per database file, shared by every component (model store, run registry,
chat sessions, RAG registry); each component's migrations are checked once per connection. Explicit
transactions go through `transaction()`, which serialises them between threads (the app's workers).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from llmdeck.core import paths

Migration = str  # one or more SQL statements, applied in one transaction

_lock = threading.Lock()
_shared: dict[tuple[int, str], _Shared] = {}  # (pid, database file) -> connection, most recent last
MAX_OPEN_DATABASES = 8  # tests switch LLMDECK_HOME per test; a real process uses one database


class _Shared:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.migrated: set[str] = set()
        self.tx_lock = threading.RLock()


def connect(db_file: Path | None = None) -> sqlite3.Connection:
    """Open a new connection (WAL, rows as mappings). Components use `connection()` instead."""
    db_file = Path(db_file) if db_file else paths.db_path()
    db_file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_file, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL, applied_at REAL NOT NULL,"
        " PRIMARY KEY (component, version))"
    )
    return conn


def _shared_for(db_file: Path | None) -> _Shared:
    key = (os.getpid(), str(Path(db_file or paths.db_path()).resolve()))
    with _lock:
        shared = _shared.pop(key, None)
        if shared is None:
            for inherited in [k for k in _shared if k[0] != key[0]]:  # opened before a fork: the parent's
                del _shared[inherited]
            while len(_shared) >= MAX_OPEN_DATABASES:
                _close_quietly(_shared.pop(next(iter(_shared))).conn)
            shared = _Shared(connect(Path(key[1])))
        _shared[key] = shared
        return shared


def connection(component: str, migrations: Sequence[Migration], db_file: Path | None = None) -> sqlite3.Connection:
    """The process's connection to the state database, with `component`'s migrations applied."""
    shared = _shared_for(db_file)
    if component not in shared.migrated:
        with shared.tx_lock:
            if component not in shared.migrated:
                migrate(shared.conn, component, migrations)
                shared.migrated.add(component)
    return shared.conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error), one thread at a time on a shared connection."""
    with _tx_lock(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _tx_lock(conn: sqlite3.Connection) -> threading.RLock:
    with _lock:
        for shared in _shared.values():
            if shared.conn is conn:
                return shared.tx_lock
    return threading.RLock()  # a private connection: nobody else uses it


def _close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()


def applied_versions(conn: sqlite3.Connection, component: str) -> set[int]:
    rows = conn.execute("SELECT version FROM _migrations WHERE component = ?", (component,))
    return {row[0] for row in rows}


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[Migration]) -> None:
    """Apply `migrations[i]` as version i+1 of `component` unless already applied."""
    done = applied_versions(conn, component)
    for version, sql in enumerate(migrations, start=1):
        if version in done:
            continue
        with transaction(conn):
            # re-check inside the write lock: another process may have just applied it
            if version in applied_versions(conn, component):
                continue
            for statement in _split_statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (component, version, applied_at) VALUES (?, ?, ?)",
                (component, version, time.time()),
            )


def _split_statements(sql: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    statements, current = [], ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):  # a ';' inside a string literal keeps accumulating
            if current.strip(" \n\t;"):
                statements.append(current.strip())
            current = ""
    return statements
