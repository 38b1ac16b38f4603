"""The run registry: one SQLite row per training run, and liveness checks of its process.

A run whose process died without reporting (SIGKILL, OOM killer, power loss) is marked
`failed` with a reason on the next read, and stays resumable from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdeck.core import db, leftovers, paths
from llmdeck.core.errors import NotFound

COMPONENT = "runs"
MIGRATIONS = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        method TEXT NOT NULL,
        base_model TEXT NOT NULL,
        dataset TEXT NOT NULL,
        config_json TEXT NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        launcher TEXT NOT NULL DEFAULT 'local',
        run_dir TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        global_step INTEGER NOT NULL DEFAULT 0,
        max_steps INTEGER,
        last_metrics_json TEXT,
        error TEXT
    );
    """,
    # what the run is doing (queued behind another run, loading model, tokenizing, training, saving),
    # the precision it trains in, the base model's pinned identity (GGUF sha256 or directory fingerprint),
    # the device it queues for and when it joined the queue
    """
    ALTER TABLE runs ADD COLUMN phase TEXT;
    ALTER TABLE runs ADD COLUMN precision TEXT;
    ALTER TABLE runs ADD COLUMN base_sha256 TEXT;
    ALTER TABLE runs ADD COLUMN device TEXT;
    ALTER TABLE runs ADD COLUMN queued_at REAL;
    """,
]
ACTIVE = ("queued", "running")
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class Run:
    id: str
    name: str
    method: str
    base_model: str
    dataset: str
    config: dict
    status: str
    pid: int | None
    launcher: str
    run_dir: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    global_step: int
    max_steps: int | None
    last_metrics: dict | None
    error: str | None
    phase: str | None = None
    precision: str | None = None
    base_sha256: str | None = None
    device: str | None = None
    queued_at: float | None = None

    @property
    def path(self) -> Path:
        return Path(self.run_dir)

    def checkpoints(self) -> list[Path]:
        return checkpoints(self.path)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["checkpoints"] = [str(p) for p in self.checkpoints()]
        adapter = self.path / "adapter"
        data["adapter"] = str(adapter) if adapter.exists() else None
        return data


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (trainer_state.json written), oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = CHECKPOINT_PATTERN.match(child.name)
        if match and (child / "trainer_state.json").exists():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def process_alive(pid: int | None) -> bool:
    """True while `pid` runs (a zombie counts as dead)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")
    return True


class Registry:
    """Run rows; every read of an active run checks that its process is still alive."""

    def __init__(self, conn: sqlite3.Connection | None = None):
        self.conn = conn or db.connection(COMPONENT, MIGRATIONS)
        leftovers.reclaim(leftovers.command_dirs())  # what a killed export, quantize or write left

    def create(
        self,
        name: str,
        method: str,
        base_model: str,
        dataset: str,
        config: dict,
        launcher: str,
        base_sha256: str | None = None,
        device: str | None = None,
        precision: str | None = None,
    ) -> Run:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        run_dir = paths.runs_dir() / run_id
        run_dir.mkdir(parents=True)
        self.conn.execute(
            "INSERT INTO runs (id, name, method, base_model, dataset, config_json, status, launcher, run_dir,"
            " created_at, max_steps, base_sha256, device, precision, phase)"
            " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, 'queued')",
            (
                run_id,
                name,
                method,
                base_model,
                dataset,
                json.dumps(config),
                launcher,
                str(run_dir),
                time.time(),
                config.get("max_steps") if (config.get("max_steps") or -1) > 0 else None,
                base_sha256,
                device,
                precision,
            ),
        )
        return self.get(run_id)

    def update(self, run_id: str, **fields) -> None:
        if "last_metrics" in fields:
            fields["last_metrics_json"] = json.dumps(fields.pop("last_metrics"))
        columns = ", ".join(f"{key} = ?" for key in fields)
        self.conn.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*fields.values(), run_id))

    def get(self, run_id: str) -> Run:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            row = self._by_prefix(run_id)
        return self._refresh(self._run(row))

    def list(self) -> list[Run]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY created_at DESC").fetchall()
        return [self._refresh(self._run(row)) for row in rows]

    def delete(self, run_id: str) -> None:
        self.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def _by_prefix(self, prefix: str) -> sqlite3.Row:
        rows = self.conn.execute("SELECT * FROM runs WHERE id LIKE ? OR name = ?", (prefix + "%", prefix)).fetchall()
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise NotFound(f"run {prefix!r} not found (see `llmdeck runs list`)")
        raise NotFound(f"run {prefix!r} is ambiguous: {', '.join(r['id'] for r in rows)}")

    def _refresh(self, run: Run) -> Run:
        """An active run whose process is gone becomes `failed`, with the reason recorded."""
        if run.status not in ACTIVE or process_alive(run.pid):
            return run
        if run.status == "queued" and run.pid is None:  # being launched right now
            return run
        step = run.global_step
        reason = (
            f"process {run.pid} died without reporting (killed or crashed) at step {step}; "
            f"resume with `llmdeck runs resume {run.id}`"
        )
        cursor = self.conn.execute(
            "UPDATE runs SET status = 'failed', error = ?, pid = NULL, finished_at = ?"
            " WHERE id = ? AND status IN ('queued', 'running')",
            (reason, time.time(), run.id),
        )
        if cursor.rowcount:
            run.status, run.error, run.pid, run.finished_at = "failed", reason, None, time.time()
            self.conn.execute("UPDATE runs SET phase = NULL WHERE id = ?", (run.id,))
            run.phase = None
        else:  # the process finished and reported between our two reads
            return self._run(self.conn.execute("SELECT * FROM runs WHERE id = ?", (run.id,)).fetchone())
        return run

    @staticmethod
    def _run(row: sqlite3.Row) -> Run:
        data = dict(row)
        data["config"] = json.loads(data.pop("config_json"))
        metrics = data.pop("last_metrics_json")
        data["last_metrics"] = json.loads(metrics) if metrics else None
        return Run(**data)
