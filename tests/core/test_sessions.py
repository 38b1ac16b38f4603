"""Chat sessions in SQLite: messages committed one by one, export, windowing, plain chat with memory."""

from __future__ import annotations

import json

import pytest

from llmdeck.core import sessions
from llmdeck.core.errors import BadInput, NotFound


def test_session_lifecycle_and_export():
    session = sessions.create_session("abc", model="m.gguf", rag_collection="docs")
    sessions.add_message("abc", "user", "What is RAG?")
    sessions.add_message(
        "abc", "assistant", "Retrieval-augmented generation [1].", sources=[{"n": 1, "source": "/d/rag.md", "chunk": 0}]
    )
    assert session.id == "abc"
    listed = sessions.list_sessions()
    assert [(s.id, s.n_messages, s.title) for s in listed] == [("abc", 2, "What is RAG?")]
    history = sessions.messages("abc")
    assert [m.as_chat() for m in history] == [
        {"role": "user", "content": "What is RAG?"},
        {"role": "assistant", "content": "Retrieval-augmented generation [1]."},
    ]
    markdown = sessions.export_session("abc", "md")
    assert "# What is RAG?" in markdown and "- [1] /d/rag.md (chunk 0)" in markdown
    document = json.loads(sessions.export_session("abc", "json"))
    assert document["rag_collection"] == "docs" and document["messages"][1]["sources"][0]["n"] == 1
    with pytest.raises(BadInput, match="expected md or json"):
        sessions.export_session("abc", "pdf")
    sessions.delete_session("abc")
    with pytest.raises(NotFound, match="session 'abc' not found"):
        sessions.messages("abc")


def test_bad_ids_roles_and_resume():
    with pytest.raises(BadInput, match="session id"):
        sessions.create_session("no spaces please")
    created = sessions.open_session(None)
    assert sessions.open_session(created.id).id == created.id
    with pytest.raises(BadInput, match="role"):
        sessions.add_message(created.id, "robot", "hi")


def test_window_history_drops_oldest_whole_turns():
    history = []
    for turn in range(5):
        history += [{"role": "user", "content": f"q{turn}"}, {"role": "assistant", "content": f"a{turn}"}]
    window = sessions.window_history(history, lambda w: len(w) <= 3)
    assert window == history[-2:]
    assert sessions.window_history(history, lambda w: True) == history
    assert sessions.window_history(history, lambda w: not w) == []


def test_a_stopped_answer_is_marked_and_a_home_made_before_the_mark_reads_on():
    from llmdeck.core import db

    conn = db.connection("old-sessions-probe", [])  # the shared connection; sessions' first two versions only
    db.migrate(conn, "sessions", sessions.MIGRATIONS[:2])
    conn.execute("INSERT INTO chat_sessions (id, created_at, updated_at) VALUES ('old', 0, 0)")
    conn.execute(
        "INSERT INTO chat_messages (session_id, role, content, created_at) VALUES ('old', 'assistant', 'hi', 0)"
    )
    assert [(m.content, m.stopped) for m in sessions.messages("old")] == [("hi", False)]
    sessions.add_message("old", "user", "tell me more")
    sessions.add_message("old", "assistant", "Well, once", model="m", stopped=True)
    assert [m.stopped for m in sessions.messages("old")] == [False, False, True]
    assert "**assistant** (m) (stopped):" in sessions.export_session("old", "md")
    # a stopped answer comes back with the turn it belongs to, and is put back as it was
    removed = sessions.pop_last_turn("old")
    assert [(m.content, m.stopped) for m in removed] == [("tell me more", False), ("Well, once", True)]
    sessions.restore_messages("old", removed)
    assert sessions.messages("old")[-1].stopped
