"""Attempts at tasks from a task file (SQLite component "attempts", beside the agent runs they point to).

A collection is one sweep over a task file with one model and one sampling setup; each (task, sample) is
attempted once per collection and recorded with its verdict after the run finished, so re-running the same
collection skips what is done (an interrupted attempt is simply attempted again).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from llmdeck.agents import records
from llmdeck.core import db

MIGRATIONS = [
    """
    CREATE TABLE task_attempts (
        collection TEXT NOT NULL,
        task_id TEXT NOT NULL,
        sample INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        task_set TEXT NOT NULL,
        split TEXT NOT NULL,
        passed INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        model TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (collection, task_id, sample)
    );
    CREATE INDEX task_attempts_run ON task_attempts(run_id);
    CREATE INDEX task_attempts_task ON task_attempts(task_id, split);
    """,
]


@dataclass(frozen=True)
class AttemptRecord:
    collection: str
    task_id: str
    sample: int
    run_id: str
    kind: str
    task_set: str
    split: str
    passed: bool
    verdict: dict
    model: str | None
    created_at: float


def _connect():
    records._connect()  # the runs table the attempts point to
    return db.connection("attempts", MIGRATIONS)


def add(
    collection: str,
    task_id: str,
    sample: int,
    run_id: str,
    kind: str,
    task_set: str,
    split: str,
    verdict: dict,
    model: str | None,
) -> None:
    with db.transaction(_connect()) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO task_attempts (collection, task_id, sample, run_id, kind, task_set, split,"
            " passed, verdict, model, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                collection,
                task_id,
                sample,
                run_id,
                kind,
                task_set,
                split,
                int(bool(verdict["passed"])),
                json.dumps(verdict),
                model,
                time.time(),
            ),
        )


def done(collection: str) -> set[tuple[str, int]]:
    """(task id, sample) pairs already attempted in `collection`."""
    rows = _connect().execute("SELECT task_id, sample FROM task_attempts WHERE collection = ?", (collection,))
    return {(row["task_id"], row["sample"]) for row in rows}


def _record(row) -> AttemptRecord:
    data = dict(row)
    data["passed"] = bool(data["passed"])
    data["verdict"] = json.loads(data["verdict"])
    return AttemptRecord(**data)


def attempts(
    collection: str | None = None,
    kind: str | None = None,
    since: float | None = None,
    collections: list[str] | None = None,
) -> list[AttemptRecord]:
    """Recorded attempts, oldest first, filtered by collection(s), kind and time."""
    where: list[str] = []
    params: list[str | float] = []
    if collection:
        where.append("collection = ?")
        params.append(collection)
    if collections is not None:
        where.append(f"collection IN ({','.join('?' * len(collections))})" if collections else "0")
        params += collections
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    query = (
        "SELECT * FROM task_attempts"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY created_at, task_id, sample"
    )
    return [_record(row) for row in _connect().execute(query, params)]


def heldout_task_ids() -> set[str]:
    """Every task id ever attempted as held-out: its runs never become training data."""
    return {
        row["task_id"]
        for row in _connect().execute("SELECT DISTINCT task_id FROM task_attempts WHERE split = 'heldout'")
    }


def collections_summary() -> list[dict]:
    rows = _connect().execute(
        "SELECT collection, kind, task_set, model, COUNT(*) AS attempts, SUM(passed) AS passed,"
        " COUNT(DISTINCT task_id) AS tasks, MIN(created_at) AS started, MAX(created_at) AS last"
        " FROM task_attempts GROUP BY collection ORDER BY started"
    )
    return [dict(row) for row in rows]


def heldout_prompts() -> set[str]:
    """The normalized text of every task attempted as held-out (an ad hoc run asking it is kept out too)."""
    rows = _connect().execute(
        "SELECT DISTINCT r.prompt FROM task_attempts a JOIN agent_runs r ON r.id = a.run_id WHERE a.split = 'heldout'"
    )
    return {" ".join(row["prompt"].split()).lower() for row in rows}
