"""Chat sessions in SQLite (component "sessions"): every message is written as soon as it is complete,
so a crash mid-answer loses at most that partial answer. Used by plain chat and RAG chat alike."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field

from llmdeck.core import db
from llmdeck.core.errors import BadInput, NotFound

MIGRATIONS = [
    """
    CREATE TABLE chat_sessions (
        id TEXT PRIMARY KEY,
        title TEXT,
        model TEXT,
        rag_collection TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE chat_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        sources TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX chat_messages_session ON chat_messages(session_id, id);
    """,
    # per-session chat options (system prompt, sampling) and the model that wrote each answer
    """
    ALTER TABLE chat_sessions ADD COLUMN options TEXT;
    ALTER TABLE chat_messages ADD COLUMN model TEXT;
    """,
    # an answer stopped before its end (Esc, a closed stream): kept with the text generated until then
    """
    ALTER TABLE chat_messages ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;
    """,
]
OPTION_KEYS = ("system", "temperature", "top_p", "max_tokens", "adapter")  # adapter: the run whose LoRA answered last


@dataclass
class Message:
    role: str
    content: str
    created_at: float
    sources: list[dict] = field(default_factory=list)
    model: str | None = None  # the store model that wrote an answer
    stopped: bool = False  # an answer stopped before its end: `content` is what was generated until then

    def as_chat(self) -> dict:
        return {"role": self.role, "content": self.content}


@dataclass
class Session:
    id: str
    title: str | None
    model: str | None
    rag_collection: str | None
    created_at: float
    updated_at: float
    n_messages: int = 0
    options: dict = field(default_factory=dict)  # system prompt, sampling, the adapter of the last turn

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row) -> Session:
        data = dict(row)
        data["options"] = json.loads(data["options"]) if data.get("options") else {}
        return cls(**data)


def _connect():
    return db.connection("sessions", MIGRATIONS)


def create_session(
    session_id: str | None = None,
    title: str | None = None,
    model: str | None = None,
    rag_collection: str | None = None,
    options: dict | None = None,
) -> Session:
    session_id = session_id or uuid.uuid4().hex[:12]
    if not session_id.replace("-", "").replace("_", "").isalnum() or len(session_id) > 64:
        raise BadInput(f"session id {session_id!r}: expected letters, digits, '-' or '_' (at most 64)")
    now = time.time()
    conn = _connect()
    conn.execute(
        "INSERT INTO chat_sessions (id, title, model, rag_collection, created_at, updated_at, options)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, title, model, rag_collection, now, now, json.dumps(_checked_options(options or {}))),
    )
    return get_session(session_id)


def find_session(session_id: str) -> Session | None:
    row = (
        _connect()
        .execute(
            "SELECT s.*, (SELECT COUNT(*) FROM chat_messages m WHERE m.session_id = s.id) AS n_messages"
            " FROM chat_sessions s WHERE s.id = ?",
            (session_id,),
        )
        .fetchone()
    )
    return Session.from_row(row) if row else None


def get_session(session_id: str) -> Session:
    session = find_session(session_id)
    if session is None:
        raise NotFound(f"session '{session_id}' not found (see `llmdeck sessions list`)")
    return session


def open_session(session_id: str | None, **fields) -> Session:
    """Resume `session_id` if it exists, else create it (a new id when None)."""
    existing = find_session(session_id) if session_id else None
    return existing or create_session(session_id, **fields)


def list_sessions() -> list[Session]:
    rows = _connect().execute(
        "SELECT s.*, (SELECT COUNT(*) FROM chat_messages m WHERE m.session_id = s.id) AS n_messages"
        " FROM chat_sessions s ORDER BY s.updated_at DESC"
    )
    return [Session.from_row(r) for r in rows]


def add_message(
    session_id: str,
    role: str,
    content: str,
    sources: list[dict] | None = None,
    model: str | None = None,
    stopped: bool = False,
) -> None:
    """Append one message (committed immediately); `model` names the model that wrote an answer, `stopped`
    marks an answer stopped before its end."""
    if role not in ("system", "user", "assistant"):
        raise BadInput(f"message role {role!r}: expected system, user or assistant")
    now = time.time()
    with db.transaction(_connect()) as conn:
        conn.execute(
            "INSERT INTO chat_messages (session_id, role, content, sources, created_at, model, stopped)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, role, content, json.dumps(sources) if sources else None, now, model, int(stopped)),
        )
        conn.execute(
            "UPDATE chat_sessions SET updated_at = ?, title = COALESCE(title, ?) WHERE id = ?",
            (now, content[:60] if role == "user" else None, session_id),
        )


def messages(session_id: str) -> list[Message]:
    get_session(session_id)
    rows = _connect().execute(
        "SELECT role, content, sources, created_at, model, stopped FROM chat_messages WHERE session_id = ? ORDER BY id",
        (session_id,),
    )
    return [_message(r) for r in rows]


def _message(row) -> Message:
    sources = json.loads(row["sources"]) if row["sources"] else []
    return Message(row["role"], row["content"], row["created_at"], sources, row["model"], bool(row["stopped"]))


def delete_session(session_id: str) -> None:
    get_session(session_id)
    _connect().execute("DELETE FROM chat_sessions WHERE id = ?", (session_id,))


def export_session(session_id: str, fmt: str = "md") -> str:
    """The session as Markdown (citations listed under each answer) or as one JSON document."""
    session = get_session(session_id)
    history = messages(session_id)
    if fmt == "json":
        return json.dumps({**session.to_dict(), "messages": [asdict(m) for m in history]}, indent=2)
    if fmt != "md":
        raise BadInput(f"--format {fmt!r}: expected md or json")
    lines = [f"# {session.title or session.id}", ""]
    if session.rag_collection:
        lines += [f"_RAG collection: {session.rag_collection}_", ""]
    for message in history:
        by = f" ({message.model})" if message.model and message.role == "assistant" else ""
        by += " (stopped)" if message.stopped else ""
        lines += [f"**{message.role}**{by}:", "", message.content, ""]
        for source in message.sources:
            lines.append(f"- [{source['n']}] {source['source']} (chunk {source.get('chunk')})")
        if message.sources:
            lines.append("")
    return "\n".join(lines)


def rename_session(session_id: str, title: str) -> Session:
    title = title.strip()
    if not title or len(title) > 200:
        raise BadInput("session title: expected 1-200 characters")
    get_session(session_id)
    _connect().execute("UPDATE chat_sessions SET title = ? WHERE id = ?", (title, session_id))
    return get_session(session_id)


def update_session(
    session_id: str, *, model: str | None = None, rag_collection: str | None | bool = False, options: dict | None = None
) -> Session:
    """Change a session's model, collection (None clears it; False leaves it) or options (merged, None values
    drop a key)."""
    session = get_session(session_id)
    conn = _connect()
    if model is not None:
        conn.execute("UPDATE chat_sessions SET model = ? WHERE id = ?", (model, session_id))
    if rag_collection is not False:
        conn.execute("UPDATE chat_sessions SET rag_collection = ? WHERE id = ?", (rag_collection, session_id))
    if options is not None:
        merged = {k: v for k, v in {**session.options, **options}.items() if v is not None}
        conn.execute(
            "UPDATE chat_sessions SET options = ? WHERE id = ?", (json.dumps(_checked_options(merged)), session_id)
        )
    return get_session(session_id)


def _checked_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise BadInput(f"session options {', '.join(unknown)}: expected {', '.join(OPTION_KEYS)}")
    return options


def pop_last_turn(session_id: str) -> list[Message]:
    """Remove the last question and whatever answered it; returns them, the question first (to ask again,
    edit, or put back with `restore_messages`)."""
    get_session(session_id)
    with db.transaction(_connect()) as conn:
        row = conn.execute(
            "SELECT id FROM chat_messages WHERE session_id = ? AND role = 'user' ORDER BY id DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        if row is None:
            raise BadInput(f"session '{session_id}' has no question to answer again")
        removed = conn.execute(
            "SELECT role, content, sources, created_at, model, stopped FROM chat_messages"
            " WHERE session_id = ? AND id >= ? ORDER BY id",
            (session_id, row["id"]),
        ).fetchall()
        conn.execute("DELETE FROM chat_messages WHERE session_id = ? AND id >= ?", (session_id, row["id"]))
    return [_message(r) for r in removed]


def restore_messages(session_id: str, removed: list[Message]) -> None:
    """Put back what `pop_last_turn` removed (when the new answer could not even start)."""
    for message in removed:
        add_message(
            session_id,
            message.role,
            message.content,
            sources=message.sources or None,
            model=message.model,
            stopped=message.stopped,
        )


def window_history(history: list[dict], fits) -> list[dict]:
    """The longest suffix of `history` (whole user/assistant turns) for which `fits(window)` holds:
    the oldest messages are dropped first, so long sessions stay within the context window."""
    start = 0
    while start < len(history) and not fits(history[start:]):
        start += 2 if start + 1 < len(history) and history[start]["role"] == "user" else 1
    return history[start:]
