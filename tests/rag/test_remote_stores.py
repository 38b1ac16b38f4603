"""A real Chroma server (`chroma run`) and the Pinecone REST emulator driven by the official client."""

from __future__ import annotations

import time

import pytest

from llmdeck.core.errors import LlmdeckError
from llmdeck.rag import registry, stores
from llmdeck.rag.ingest import ingest
from llmdeck.rag.query import list_collections, open_collection, query, remove_collection
from tests.rag.conftest import CORPUS_FILES, QUESTIONS, source_name

pytestmark = pytest.mark.slow  # real embeddings, stores and models


def test_chroma_server_ingest_query_and_reingest(corpus, chroma_server, embeddings):
    first = ingest([corpus], "served", chroma_url=chroma_server)
    again = ingest([corpus], "served")  # the registry remembers where the collection lives
    assert again.chunks_added == again.chunks_updated == 0 and again.files_unchanged == len(CORPUS_FILES)
    record, _, store = open_collection("served")
    assert record.location == chroma_server and store.count() == first.chunks_added
    for question, expected in QUESTIONS[:3]:
        assert source_name(query("served", question, k=2)[0]) == expected
    remove_collection("served")
    import chromadb

    port = chroma_server.rsplit(":", 1)[1]
    names = [c.name for c in chromadb.HttpClient(host="127.0.0.1", port=int(port)).list_collections()]
    assert "served" not in names


def test_chroma_server_down_is_a_clear_error(corpus, embeddings):
    with pytest.raises(LlmdeckError, match="chroma server at http://127.0.0.1:9: unreachable"):
        ingest([corpus], "served", chroma_url="http://127.0.0.1:9")
    assert list_collections() == []


def test_pinecone_emulator_roundtrip(corpus, pinecone_emulator, embeddings):
    first = ingest([corpus], "pine", "pinecone", pinecone_host=pinecone_emulator.url)
    assert pinecone_emulator.indexes["pine"].dimension == 384
    assert pinecone_emulator.indexes["pine"].spec == {"serverless": {"cloud": "aws", "region": "us-east-1"}}
    again = ingest([corpus], "pine")
    assert again.chunks_added == again.chunks_updated == 0
    _, _, store = open_collection("pine")
    assert store.count() == first.chunks_added
    for question, expected in QUESTIONS:
        hits = query("pine", question, k=3)
        assert source_name(hits[0]) == expected and isinstance(hits[0].metadata["chunk"], int)

    (corpus / "coffee.txt").write_text("Brewing tea\n\nGreen tea steeps at 80 degrees for two minutes.\n")
    changed = ingest([corpus], "pine")
    assert (
        changed.chunks_removed >= 1
        and store.count() == first.chunks_added - changed.chunks_removed + changed.chunks_updated
    )
    assert "Green tea" in query("pine", "green tea temperature", k=1)[0].text

    remove_collection("pine")
    assert "pine" not in pinecone_emulator.indexes and list_collections() == []
    used = {path for _, path in pinecone_emulator.requests}
    assert {
        "/indexes",
        "/indexes/pine",
        "/vectors/upsert",
        "/query",
        "/vectors/delete",
        "/describe_index_stats",
    } <= used


def test_pinecone_down_fails_after_backoff_without_state(corpus, pinecone_emulator, embeddings, monkeypatch):
    slept = []

    class RecordedSleeps:
        """The stores module's `time`, whose sleeps are recorded instead of slept."""

        def __getattr__(self, name):
            return getattr(time, name)

        def sleep(self, seconds):
            slept.append(seconds)

    monkeypatch.setattr(stores, "time", RecordedSleeps())
    url = pinecone_emulator.url
    pinecone_emulator.stop()
    with pytest.raises(
        LlmdeckError, match=f"pinecone list indexes at {url}: failed after 4 attempts .*connection refused"
    ):
        ingest([corpus], "pine", "pinecone", pinecone_host=url)
    # each call (the ingest's, then its rollback's) backed off 0.25, 0.5 and 1 s between its 4 attempts, then gave up
    assert len(slept) >= 4
    assert slept == [0.0, 0.25, 0.5, 1.0] * (len(slept) // 4)
    assert registry.find(registry.connect(), "pine") is None


def test_pinecone_emulator_fetch_and_filter(pinecone_emulator):
    from pinecone import Pinecone, ServerlessSpec
    from pinecone.exceptions import PineconeApiException

    client = Pinecone(api_key="k", host=pinecone_emulator.url)
    client.create_index(name="raw", dimension=2, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    assert [i["name"] for i in client.list_indexes()] == ["raw"]
    index = client.Index(host="http://" + client.describe_index("raw").host)
    index.upsert(vectors=[("a", [1.0, 0.0], {"kind": "x"}), ("b", [0.0, 1.0], {"kind": "y"})])
    assert set(index.fetch(ids=["a", "b"]).vectors) == {"a", "b"}
    result = index.query(vector=[1.0, 0.1], top_k=2, include_metadata=True, filter={"kind": {"$eq": "y"}})
    assert [m.id for m in result.matches] == ["b"]
    assert index.describe_index_stats().total_vector_count == 2
    with pytest.raises(PineconeApiException, match="Vector dimension 3 does not match the dimension of the index 2"):
        index.upsert(vectors=[("c", [1.0, 0.0, 0.0])])  # wrong dimension is refused like the service does
    client.delete_index("raw")
    assert client.list_indexes().names() == []


def test_pinecone_without_api_key_is_bad_input(corpus, embeddings, monkeypatch):
    from llmdeck.core.errors import BadInput

    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    with pytest.raises(BadInput, match="PINECONE_API_KEY"):
        ingest([corpus], "pine", "pinecone", pinecone_host="http://127.0.0.1:9")
    assert list_collections() == []


def test_cli_pinecone_down_is_one_line_exit_1(cli, corpus, pinecone_emulator):
    url = pinecone_emulator.url
    pinecone_emulator.stop()
    result = cli(
        "rag",
        "ingest",
        str(corpus),
        "--collection",
        "pine",
        "--store",
        "pinecone",
        "--pinecone-host",
        url,
        env={"PINECONE_API_KEY": "test-key"},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: pinecone list indexes at {url}: failed after 4 attempts" in result.stderr
    assert cli("rag", "collections", "--json").stdout.strip() == "[]"


def test_pinecone_left_behind_by_a_killed_ingest_is_reconciled(corpus, pinecone_emulator, embeddings):
    """The state a SIGKILL leaves (notes, vectors, no registry commit) on Pinecone: the next query or ingest
    removes the vectors the registry does not know, for a new index and for an existing one."""
    from llmdeck.core import db
    from llmdeck.core.errors import NotFound
    from llmdeck.rag.stores import open_store

    def written_but_never_committed(name, store, ids):
        conn = registry.connect()
        record = registry.find(conn, name)
        if record is None:
            record = registry.CollectionRecord(
                name, "pinecone", pinecone_emulator.url, "all-MiniLM-L6-v2", 384, 1000, 150, 0.0, 0.0
            )
            with db.transaction(conn):
                registry.begin_collection(conn, record)
        registry.record_pending(conn, name, ids, "add")
        store.add(
            ids, ["orphan text"] * len(ids), [{"source": "/x", "chunk": 0}] * len(ids), [[0.1] * 384 for _ in ids]
        )

    orphan_store = open_store("pinecone", "ghost", pinecone_emulator.url, embeddings, 384)
    written_but_never_committed("ghost", orphan_store, ["a", "b"])
    assert "ghost" in pinecone_emulator.indexes
    with pytest.raises(NotFound):
        query("ghost", "anything")
    assert "ghost" not in pinecone_emulator.indexes  # the index the killed ingest created is gone

    first = ingest([corpus], "pine", "pinecone", pinecone_host=pinecone_emulator.url)
    _, _, store = open_collection("pine")
    written_but_never_committed("pine", store, ["orphan-1", "orphan-2"])
    assert store.count() == first.chunks_added + 2
    query("pine", "espresso", k=1)
    assert store.count() == first.chunks_added
