"""SIGKILL an ingest at random points: afterwards the vector store holds exactly what the registry knows."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmdeck.core import paths
from llmdeck.core.errors import NotFound
from llmdeck.rag import registry
from llmdeck.rag.ingest import EMBED_BATCH, ingest
from llmdeck.rag.query import query
from llmdeck.rag.stores import chroma_client, default_location

pytestmark = pytest.mark.slow


def write_docs(folder: Path, n_files: int, version: str = "v1") -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(n_files):
        paragraphs = [
            f"## Part {p}\n\nDocument {i} ({version}) part {p}: " + f"fact {i}-{p} about topic {i % 17}. " * 12
            for p in range(3)
        ]
        (folder / f"doc{i:03d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paragraphs))
    return folder


def store_ids(name: str) -> set[str] | None:
    client = chroma_client(default_location("chroma"))
    if name not in {c.name if hasattr(c, "name") else c for c in client.list_collections()}:
        return None
    return set(client.get_collection(name).get(include=[])["ids"])


def registry_ids(name: str) -> set[str]:
    return {cid for entry in registry.sources(registry.connect(), name).values() for cid in entry["chunk_ids"]}


def kill_midway(args: list[str], seed: int, most: int) -> None:
    """Start `llmdeck rag ingest`, wait until a random number of its batches of vectors (1 to `most`) is noted
    as written, then SIGKILL it within a fraction of a second. Callers give it at least `most` + 2 batches of
    work, so the kill lands mid-ingest however fast the machine embeds."""
    rng = random.Random(seed)
    batches = rng.randint(1, most)
    process = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "rag", "ingest", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(paths.db_path(), timeout=5) as conn:
                if (
                    conn.execute("SELECT COUNT(*) FROM rag_pending WHERE op = 'add'").fetchone()[0]
                    >= batches * EMBED_BATCH
                ):
                    break
        except sqlite3.OperationalError:  # the table does not exist yet
            pass
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.3))
    assert process.poll() is None, "the ingest finished before it could be killed: use more documents"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_first_ingest_then_another_file_set(tmp_path, embeddings, seed):
    docs = write_docs(tmp_path / "docs", 400)  # 3 chunks a file: 1200 chunks, 5 batches
    kill_midway([str(docs), "--collection", "killed"], seed, most=3)
    assert registry.find(registry.connect(), "killed") is None  # the registry never learned of the collection
    with pytest.raises(NotFound):
        query("killed", "anything")  # a query first removes what the killed ingest left in the store
    assert store_ids("killed") is None
    summary = ingest([docs], "killed", include=["doc00*.md"])
    assert summary.files_seen == 10
    assert store_ids("killed") == registry_ids("killed") and len(registry_ids("killed")) == summary.chunks_added
    sources = {Path(hit.metadata["source"]).name for hit in query("killed", "fact about topic", k=50)}
    assert sources and all(name.startswith("doc00") for name in sources)


@pytest.mark.parametrize("seed", [4, 5])
def test_killed_update_ingest_then_prune(tmp_path, embeddings, seed):
    docs = write_docs(tmp_path / "docs", 200)  # 600 chunks: 3 batches
    ingest([docs], "updated")
    write_docs(docs, 200, version="v2")  # every file changes: old chunks go stale, new ones are written
    kill_midway([str(docs), "--collection", "updated"], seed, most=1)
    for path in sorted(docs.glob("*.md"))[60:]:  # doc060.md and after
        path.unlink()
    ingest([docs], "updated", prune=True)
    assert store_ids("updated") == registry_ids("updated")
    assert {Path(p).name for p in registry.sources(registry.connect(), "updated")} == {
        f"doc{i:03d}.md" for i in range(60)
    }
    texts = [hit.text for hit in query("updated", "Document part fact", k=40)]
    assert texts and all("(v2)" in text or "(v" not in text for text in texts)


def test_a_long_lived_process_sees_another_process_ingest(tmp_path, embeddings):
    """The app or `serve` keeps a Chroma client open while `llmdeck rag ingest` writes from another process."""
    docs = write_docs(tmp_path / "docs", 3)
    ingest([docs], "shared")
    assert query("shared", "fact about topic", k=3)  # this process now holds an open client
    (docs / "zebra.md").write_text("# Zebras\n\nA zebra's stripes are unique, like fingerprints.\n")
    result = subprocess.run(
        [sys.executable, "-m", "llmdeck.cli", "rag", "ingest", str(docs), "--collection", "shared"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert Path(query("shared", "zebra stripes", k=1)[0].metadata["source"]).name == "zebra.md"
