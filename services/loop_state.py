"""The self-improvement loop's state in SQLite (component "loops"): one row per loop, per round and per stage.

`save_state()` writes a loop's whole state in one transaction after every stage, so a loop that is killed
resumes from its last finished stage. The loop's data and artifacts stay on disk in `loop_dir(NAME)`. A
`state.json` left there by an older llmdeck is imported on the first open and renamed `state.json.imported`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.core import db, paths
from llmdeck.core.errors import LlmdeckError, NotFound

COMPONENT = "loops"
MIGRATIONS = [
    """
    CREATE TABLE loops (
        name TEXT PRIMARY KEY,
        config_json TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        created_at REAL NOT NULL,
        seconds REAL NOT NULL DEFAULT 0,
        cpu_seconds REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE loop_rounds (
        loop TEXT NOT NULL REFERENCES loops(name) ON DELETE CASCADE,
        round INTEGER NOT NULL,
        model TEXT NOT NULL,
        output TEXT,
        seconds REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (loop, round)
    );
    CREATE TABLE loop_stages (
        loop TEXT NOT NULL,
        round INTEGER NOT NULL,
        stage TEXT NOT NULL,
        position INTEGER NOT NULL,
        status TEXT NOT NULL,
        started_at REAL,
        run_id TEXT,
        result_json TEXT,
        finished_at REAL,
        PRIMARY KEY (loop, round, stage),
        FOREIGN KEY (loop, round) REFERENCES loop_rounds(loop, round) ON DELETE CASCADE
    );
    """,
    # each stage's own wall seconds (the attempts that ran it, summed: a resumed stage counts its time, not the
    # time the loop was down)
    "ALTER TABLE loop_stages ADD COLUMN seconds REAL;",
]
STATE_FILE = "state.json"  # where an older llmdeck kept a loop's state
# a stage record's keys, in this order
STAGE_KEYS = ("status", "started_at", "run_id", "result", "finished_at", "seconds")


@dataclass
class LoopState:
    """A loop's config and, per round, each stage's status and result."""

    name: str
    config: dict
    rounds: list[dict] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    status: str = "running"  # running | completed | stopped | failed
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "config": self.config,
            "rounds": self.rounds,
            "created_at": self.created_at,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "cpu_seconds": round(self.cpu_seconds, 1),
        }


def loops_dir() -> Path:
    return paths.home() / "loops"


def loop_dir(name: str) -> Path:
    """Where a loop keeps its data and artifacts (round-N/data/...)."""
    return loops_dir() / name


def _connect() -> sqlite3.Connection:
    conn = db.connection(COMPONENT, MIGRATIONS)
    _import_state_files(conn)
    return conn


def find_state(name: str) -> LoopState | None:
    conn = _connect()
    row = conn.execute("SELECT * FROM loops WHERE name = ?", (name,)).fetchone()
    return _state(conn, row) if row else None


def load_state(name: str) -> LoopState:
    state = find_state(name)
    if state is None:
        known = ", ".join(s.name for s in sorted(list_loops(), key=lambda s: s.name)) or "none"
        raise NotFound(f"loop {name!r} not found (known loops: {known})")
    return state


def list_loops() -> list[LoopState]:
    """Every loop, oldest first."""
    conn = _connect()
    return [_state(conn, row) for row in conn.execute("SELECT * FROM loops ORDER BY created_at, name").fetchall()]


def save_state(state: LoopState) -> None:
    """Write the loop's row and every round and stage it has, in one transaction."""
    loop_dir(state.name).mkdir(parents=True, exist_ok=True)
    with db.transaction(_connect()) as conn:
        _write(conn, state)


def _write(conn: sqlite3.Connection, state: LoopState) -> None:
    conn.execute(
        "INSERT INTO loops (name, config_json, status, error, created_at, seconds, cpu_seconds)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET config_json = excluded.config_json,"
        " status = excluded.status, error = excluded.error, seconds = excluded.seconds,"
        " cpu_seconds = excluded.cpu_seconds",
        (
            state.name,
            json.dumps(state.config),
            state.status,
            state.error,
            state.created_at,
            state.seconds,
            state.cpu_seconds,
        ),
    )
    for entry in state.rounds:
        conn.execute(
            "INSERT INTO loop_rounds (loop, round, model, output, seconds) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (loop, round) DO UPDATE SET model = excluded.model, output = excluded.output,"
            " seconds = excluded.seconds",
            (state.name, entry["round"], entry["model"], entry.get("output"), entry.get("seconds", 0.0)),
        )
        for position, (stage, record) in enumerate(entry["stages"].items()):
            result = json.dumps(record["result"]) if record.get("result") is not None else None
            conn.execute(
                "INSERT INTO loop_stages (loop, round, stage, position, status, started_at, run_id, result_json,"
                " finished_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (loop, round, stage) DO"
                " UPDATE SET position = excluded.position, status = excluded.status, started_at = excluded.started_at,"
                " run_id = excluded.run_id, result_json = excluded.result_json, finished_at = excluded.finished_at,"
                " seconds = excluded.seconds",
                (
                    state.name,
                    entry["round"],
                    stage,
                    position,
                    record["status"],
                    record.get("started_at"),
                    record.get("run_id"),
                    result,
                    record.get("finished_at"),
                    record.get("seconds"),
                ),
            )


def _state(conn: sqlite3.Connection, row: sqlite3.Row) -> LoopState:
    rounds = []
    for round_row in conn.execute("SELECT * FROM loop_rounds WHERE loop = ? ORDER BY round", (row["name"],)).fetchall():
        stages = {}
        for stage_row in conn.execute(
            "SELECT * FROM loop_stages WHERE loop = ? AND round = ? ORDER BY position",
            (row["name"], round_row["round"]),
        ).fetchall():
            result = stage_row["result_json"]
            values = {
                "status": stage_row["status"],
                "started_at": stage_row["started_at"],
                "run_id": stage_row["run_id"],
                "result": json.loads(result) if result is not None else None,
                "finished_at": stage_row["finished_at"],
                "seconds": stage_row["seconds"],
            }
            stages[stage_row["stage"]] = {key: values[key] for key in STAGE_KEYS if values[key] is not None}
        entry = {
            "round": round_row["round"],
            "model": round_row["model"],
            "stages": stages,
            "seconds": round_row["seconds"],
        }
        if round_row["output"] is not None:
            entry["output"] = round_row["output"]
        rounds.append(entry)
    return LoopState(
        name=row["name"],
        config=json.loads(row["config_json"]),
        rounds=rounds,
        created_at=row["created_at"],
        status=row["status"],
        error=row["error"],
        seconds=row["seconds"],
        cpu_seconds=row["cpu_seconds"],
    )


def _import_state_files(conn: sqlite3.Connection) -> None:
    """Import each `loops/NAME/state.json` of an older llmdeck once (a loop already in the database is kept)."""
    root = loops_dir()
    if not root.is_dir():
        return
    for path in sorted(root.glob(f"*/{STATE_FILE}")):
        try:
            state = LoopState(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise LlmdeckError(f"{path}: not a loop's state ({exc}); move it away to go on") from None
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM loops WHERE name = ?", (state.name,)).fetchone() is None:
                _write(conn, state)
        with contextlib.suppress(FileNotFoundError):  # another process imported it at the same time
            path.rename(path.with_name(STATE_FILE + ".imported"))
