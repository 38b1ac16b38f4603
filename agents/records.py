"""Agent and verify runs in SQLite (component "agents"): the run is created before its first step and every
event (`agents.events`) is committed as it happens, as its JSON form, so a crash loses nothing already shown;
reading a run turns the stored forms back into events. Exports turn the records into training data in the
formats `llmdeck train` reads (`tuning/data.py`):

- agent traces -> `messages` rows (system, user, assistant steps with their tool calls, tool results, answer);
- verified solutions -> `messages` rows (SFT); failed-then-fixed attempts of one task -> preference rows
  (`prompt`, `chosen` = the verified code, `rejected` = a failing attempt).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path

from llmdeck.agents.events import (
    AgentAnswered,
    CodeExecuted,
    CodeWritten,
    RunEvent,
    ToolCalled,
    ToolReturned,
    run_event,
)
from llmdeck.core import db
from llmdeck.core.errors import BadInput, NotFound

MIGRATIONS = [
    """
    CREATE TABLE agent_runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        prompt TEXT NOT NULL,
        model TEXT,
        options TEXT NOT NULL,
        status TEXT NOT NULL,
        answer TEXT,
        passed INTEGER,
        steps INTEGER NOT NULL DEFAULT 0,
        isolation TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        seconds REAL
    );
    CREATE INDEX agent_runs_kind ON agent_runs(kind, started_at);
    CREATE TABLE agent_events (
        run_id TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
]
KINDS = ("agent", "verify")
# agent: answered | limit | error | cancelled; verify: verified | unverified | failed | gave_up | error | cancelled
RUNNING = "running"


@dataclass
class RunRecord:
    id: str
    kind: str
    prompt: str
    model: str | None
    options: dict
    status: str
    answer: str | None
    passed: bool | None
    steps: int
    isolation: str | None
    started_at: float
    finished_at: float | None
    seconds: float | None
    events: list[RunEvent] = field(default_factory=list)
    event_times: list[float] = field(default_factory=list)  # when each event was recorded (time.time())

    def to_dict(self, with_events: bool = True) -> dict:
        """The run as JSON (`runs show --json`): each event's JSON form with its time, "at"."""
        data = {
            spec.name: getattr(self, spec.name) for spec in fields(self) if spec.name not in ("events", "event_times")
        }
        if with_events:
            data["events"] = [{**event.to_json(), "at": at} for event, at in zip(self.events, self.event_times)]
        return data


def _connect():
    return db.connection("agents", MIGRATIONS)


def start_run(kind: str, prompt: str, model: str | None, options: dict) -> str:
    if kind not in KINDS:
        raise ValueError(f"run kind {kind!r}")
    run_id = f"{kind[0]}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    with db.transaction(_connect()) as conn:
        conn.execute(
            "INSERT INTO agent_runs (id, kind, prompt, model, options, status, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, kind, prompt, model, json.dumps(options, default=str), RUNNING, time.time()),
        )
    return run_id


def add_event(run_id: str, event: RunEvent) -> None:
    with db.transaction(_connect()) as conn:
        (seq,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_events WHERE run_id = ?", (run_id,)
        ).fetchone()
        conn.execute(
            "INSERT INTO agent_events (run_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
            (run_id, seq, event.type, json.dumps(event.to_json(), default=str), time.time()),
        )


def finish_run(
    run_id: str, status: str, answer: str | None, steps: int, passed: bool | None = None, isolation: str | None = None
) -> None:
    now = time.time()
    with db.transaction(_connect()) as conn:
        conn.execute(
            "UPDATE agent_runs SET status = ?, answer = ?, steps = ?, passed = ?, isolation = ?,"
            " finished_at = ?, seconds = ? - started_at WHERE id = ?",
            (status, answer, steps, None if passed is None else int(passed), isolation, now, now, run_id),
        )


def _record(row, stored: list | None = None) -> RunRecord:
    """A run from its row and its stored events' rows (JSON forms, with their times)."""
    data = dict(row)
    data["options"] = json.loads(data["options"])
    data["passed"] = None if data["passed"] is None else bool(data["passed"])
    stored = stored or []
    return RunRecord(
        **data, events=[run_event(json.loads(r["data"])) for r in stored], event_times=[r["at"] for r in stored]
    )


def list_runs(kind: str | None = None, limit: int = 50) -> list[RunRecord]:
    query = "SELECT * FROM agent_runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY started_at DESC LIMIT ?"
    rows = _connect().execute(query, (kind, limit) if kind else (limit,))
    return [_record(row) for row in rows]


def get_run(run_id: str, kind: str | None = None) -> RunRecord:
    conn = _connect()
    row = conn.execute("SELECT * FROM agent_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None or (kind and row["kind"] != kind):
        where = f"llmdeck {kind} runs list" if kind else "llmdeck agent runs list"
        raise NotFound(f"{kind or 'agent'} run '{run_id}' not found (see `{where}`)")
    stored = conn.execute("SELECT data, at FROM agent_events WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
    return _record(row, stored)


def runs_with_events(kind: str, statuses: tuple[str, ...]) -> list[RunRecord]:
    rows = _connect().execute(
        f"SELECT id FROM agent_runs WHERE kind = ? AND status IN ({','.join('?' * len(statuses))}) ORDER BY started_at",
        (kind, *statuses),
    )
    return [get_run(row["id"]) for row in rows]


def trainable(run: RunRecord) -> bool:
    """False for a run made on a held-out task (an evaluation): it must never become training data."""
    return (run.options.get("task") or {}).get("split") != "heldout"


# -- exports as training data ---------------------------------------------------------------------
def agent_trace_rows(include_limited: bool = False) -> list[dict]:
    """`messages` rows of agent runs that answered (and those stopped by a limit when asked)."""
    statuses = ("answered", "limit") if include_limited else ("answered",)
    return [row for run in runs_with_events("agent", statuses) if trainable(run) and (row := trace_messages(run))]


def trace_messages(run: RunRecord) -> dict | None:
    """One run as {"messages": [...]}, the assistant turns exactly as the model decoded them."""
    system = run.options.get("system_prompt")
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": run.prompt})
    observation_role = run.options.get("observation_role", "tool")
    final: AgentAnswered | None = None
    for event in run.events:
        if isinstance(event, ToolCalled):
            arguments = json.dumps(event.args, ensure_ascii=False)
            messages.append(
                {
                    "role": "assistant",
                    "content": event.text,
                    "tool_calls": [
                        {"id": event.id, "type": "function", "function": {"name": event.name, "arguments": arguments}}
                    ],
                }
            )
        elif isinstance(event, ToolReturned) and messages[-1]["role"] == "assistant":
            content = event.content if event.content.strip() else "(no output)"
            call_id = messages[-1]["tool_calls"][0]["id"] if messages[-1].get("tool_calls") else None
            if observation_role == "tool":
                messages.append({"role": "tool", "content": content, "tool_call_id": call_id, "name": event.name})
            else:
                messages.append({"role": "user", "content": f"Result: {content}"})
        elif isinstance(event, AgentAnswered):
            final = event
    if final is None or not final.text:
        return None
    messages.append({"role": "assistant", "content": final.text})
    return {"messages": messages, "run_id": run.id, "model": run.model}


def verify_sft_rows() -> list[dict]:
    """Verified solutions as `messages` rows: the writer's prompt, then the code that passed its checks."""
    rows = []
    for run in filter(trainable, runs_with_events("verify", ("verified",))):
        prompt = writer_prompt(run)
        rows.append(
            {"messages": [*prompt, {"role": "assistant", "content": run.answer}], "run_id": run.id, "model": run.model}
        )
    return rows


def verify_preference_rows() -> list[dict]:
    """Failed-then-fixed attempts of the same task (same text, same checks) as preference rows."""
    by_task: dict[str, dict] = {}
    for run in filter(trainable, runs_with_events("verify", ("verified", "failed", "gave_up", "unverified"))):
        key = json.dumps([run.prompt, run.options.get("checks")], sort_keys=True)
        task = by_task.setdefault(key, {"prompt": writer_prompt(run), "chosen": None, "rejected": []})
        task["rejected"] += failing_programs(run)
        if run.status == "verified" and task["chosen"] is None:
            task["chosen"] = run.answer
    rows = []
    for task in by_task.values():
        for rejected in dict.fromkeys(task["rejected"]):
            if task["chosen"] and rejected != task["chosen"]:
                rows.append(
                    {
                        "prompt": task["prompt"],
                        "chosen": [{"role": "assistant", "content": task["chosen"]}],
                        "rejected": [{"role": "assistant", "content": rejected}],
                    }
                )
    return rows


def failing_programs(run: RunRecord) -> list[str]:
    """The fenced programs of a verify run whose execution did not pass, in the order they ran."""
    written = {e.round: e.code for e in run.events if isinstance(e, CodeWritten)}
    return [
        fenced(written[e.round])
        for e in run.events
        if isinstance(e, CodeExecuted) and not e.passed and written.get(e.round)
    ]


def writer_prompt(run: RunRecord) -> list[dict]:
    system = run.options.get("system_prompt")
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": run.options.get("task_prompt") or run.prompt}
    ]


def fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def write_jsonl(rows: list[dict], output: Path) -> int:
    """Write rows atomically (temp file, then rename); refuses to write an empty dataset."""
    from llmdeck.core.atomic import atomic_write_text

    if not rows:
        raise BadInput("nothing to export: no run matches (see `runs list`)")
    atomic_write_text(Path(output), "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return len(rows)
