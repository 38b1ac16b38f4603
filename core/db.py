"""The SQLite state database: WAL mode, numbered migrations per component (simonw/llm's pattern).

Each component (model store, run registry, chat sessions...) owns a list of SQL migrations;
`migrate` applies the ones not yet recorded in `_migrations` and records them, in order.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from core import paths

Migration = str  # one or more SQL statements, applied with executescript


def connect(db_file: Path | None = None) -> sqlite3.Connection:
    """Open the state database (default: `$LLMDECK_HOME/llmdeck.db`) in WAL mode, rows as mappings."""
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


def applied_versions(conn: sqlite3.Connection, component: str) -> set[int]:
    rows = conn.execute("SELECT version FROM _migrations WHERE component = ?", (component,))
    return {row[0] for row in rows}


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[Migration]) -> None:
    """Apply `migrations[i]` as version i+1 of `component` unless already applied."""
    done = applied_versions(conn, component)
    for version, sql in enumerate(migrations, start=1):
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-check inside the write lock: another process may have just applied it
            if version in applied_versions(conn, component):
                conn.execute("COMMIT")
                continue
            for statement in _split_statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (component, version, applied_at) VALUES (?, ?, ?)",
                (component, version, time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


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
