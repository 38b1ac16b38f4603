"""`llmdeck rag ...`, `llmdeck chat --rag/--session` and `llmdeck sessions ...` through the real entry point."""

from __future__ import annotations

import json

import pytest

from tests.rag.conftest import CORPUS_FILES

pytestmark = pytest.mark.slow  # real embeddings, stores and models


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_rag_cli_end_to_end_with_session_across_processes(cli, corpus):
    ingested = cli("rag", "ingest", str(corpus), "--collection", "docs", "--exclude", "*.json", "--json")
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert summary["files_seen"] == len(CORPUS_FILES) - 1 and summary["chunks_added"] > 0
    assert {"seconds", "chunks_per_s", "chunks_skipped", "chunks_removed", "skipped_files"} <= set(summary)

    listed = json.loads(cli("rag", "collections", "--json").stdout)
    assert [(c["name"], c["store"], c["embedding_model"], c["chunks"]) for c in listed] == [
        ("docs", "chroma", "all-MiniLM-L6-v2", summary["chunks_added"])
    ]

    found = cli("rag", "query", "--collection", "docs", "Which city did Vesuvius bury?", "-k", "2", "--json")
    assert found.returncode == 0, found.stderr
    rows = json.loads(found.stdout)
    assert rows[0]["source"].endswith("volcanoes.md") and rows[0]["score"] >= rows[1]["score"] and rows[0]["text"]

    args = ["--max-tokens", "16", "--temperature", "0", "--seed", "1", "--json"]
    first = cli("chat", "--rag", "docs", "--session", "trip", "How much pressure does an espresso machine use?", *args)
    assert first.returncode == 0, first.stderr
    events = json_lines(first.stdout)
    assert events[0]["type"] == "token" and events[-1]["type"] == "done"
    done = events[-1]
    assert done["session"] == "trip" and done["sources"][0]["n"] == 1
    assert done["sources"][0]["source"].endswith("coffee.txt") and set(done["sources"][0]) == {"n", "source", "chunk"}

    # a second process resumes the session: its first answer is part of the memory
    second = cli("chat", "--rag", "docs", "--session", "trip", "Tell me more about it.", *args)
    assert second.returncode == 0, second.stderr
    shown = json.loads(cli("sessions", "show", "trip", "--json").stdout)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user", "assistant"]
    assert shown["messages"][1]["content"] == "".join(e["text"] for e in events if e["type"] == "token")
    assert shown["messages"][3]["sources"] and shown["rag_collection"] == "docs"

    sessions = json.loads(cli("sessions", "list", "--json").stdout)
    assert [(s["id"], s["n_messages"]) for s in sessions] == [("trip", 4)]
    markdown = cli("sessions", "export", "trip", "--format", "md").stdout
    assert "How much pressure does an espresso machine use?" in markdown and "coffee.txt" in markdown
    assert cli("sessions", "rm", "trip").returncode == 0
    assert cli("sessions", "show", "trip").returncode == 2

    assert cli("rag", "rm", "docs").returncode == 0
    assert json.loads(cli("rag", "collections", "--json").stdout) == []


def test_rag_cli_bad_inputs_are_one_line_exit_2(cli, tmp_path):
    missing = cli("rag", "ingest", str(tmp_path / "nowhere"), "--collection", "docs")
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no such file or directory")
    assert "Traceback" not in missing.stderr
    unknown = cli("rag", "query", "--collection", "nope", "anything")
    assert unknown.returncode == 2 and "collection 'nope' not found" in unknown.stderr
    chat = cli("chat", "--rag", "nope", "hello", "--json")
    assert chat.returncode == 2 and "collection 'nope' not found" in chat.stderr and chat.stdout == ""
    assert json.loads(cli("sessions", "list", "--json").stdout) == []  # the failed chat started no session


def test_concurrent_ingest_into_one_collection_is_refused(cli, corpus):
    """A second ingest (another process) into a collection being written fails at once, naming the holder."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom core import locks\n"
            "with locks.exclusive('collection', 'docs'):\n    print('held', flush=True)\n    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = cli("rag", "ingest", str(corpus), "--collection", "docs")
        assert busy.returncode == 1 and "Traceback" not in busy.stderr
        assert f"collection 'docs' is in use by another llmdeck process (pid {holder.pid})" in busy.stderr
        assert cli("rag", "collections", "--json").stdout.strip() == "[]"  # nothing half-created
    finally:
        holder.kill()
        holder.wait()
    done = cli("rag", "ingest", str(corpus), "--collection", "docs", "--json")  # the lock died with its holder
    assert done.returncode == 0, done.stderr
