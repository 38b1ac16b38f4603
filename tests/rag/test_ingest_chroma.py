"""Ingest into embedded Chroma: metadata, idempotence, incremental updates, prune, skips, bad inputs, retrieval."""

from __future__ import annotations

import pytest

from llmdeck.core.errors import BadInput, NotFound
from llmdeck.rag import registry
from llmdeck.rag.ingest import ingest
from llmdeck.rag.query import list_collections, open_collection, query, remove_collection
from tests.rag.conftest import CORPUS_FILES, QUESTIONS, source_name

pytestmark = pytest.mark.slow  # real embeddings, stores and models


def test_ingest_is_idempotent_and_retrieves_expected_sources(corpus, embeddings):
    first = ingest([corpus], "fixture")
    assert first.files_seen == len(CORPUS_FILES)
    assert first.chunks_added >= len(CORPUS_FILES) and first.chunks_updated == first.chunks_removed == 0
    assert {s["reason"].split(" ")[0] for s in first.skipped_files} == {"unsupported", "binary"}
    _, _, store = open_collection("fixture")
    assert store.count() == first.chunks_added

    again = ingest([corpus], "fixture")
    assert (again.files_unchanged, again.chunks_added, again.chunks_updated, again.chunks_removed) == (
        len(CORPUS_FILES),
        0,
        0,
        0,
    )
    assert again.chunks_skipped == first.chunks_added
    assert store.count() == first.chunks_added

    for question, expected in QUESTIONS:
        hits = query("fixture", question, k=3)
        assert source_name(hits[0]) == expected, (question, [source_name(h) for h in hits])
        assert hits[0].score > hits[-1].score

    markdown = [h for h in query("fixture", "Pompeii ash", k=1)]
    assert markdown[0].metadata["title"] == "Volcanoes > Vesuvius"
    assert isinstance(markdown[0].metadata["chunk"], int)
    [pdf_hit] = query("fixture", "Skerry Point lighthouse", k=1)
    assert pdf_hit.metadata["page"] == 1 and "automated in 1998" in pdf_hit.text
    [json_hit] = query("fixture", "Hubble launched", k=1)
    assert json_hit.text.startswith("{") and '"launched": 1990' in json_hit.text  # JSON split by structure
    [info] = list_collections()
    assert (info.name, info.store, info.embedding_model, info.dimension, info.sources) == (
        "fixture",
        "chroma",
        "all-MiniLM-L6-v2",
        384,
        len(CORPUS_FILES),
    )


def test_modified_file_replaces_its_chunks_and_prune_removes_deleted(corpus, embeddings):
    ingest([corpus], "fixture", chunk_size=200, chunk_overlap=0)
    _, _, store = open_collection("fixture")
    before = store.count()
    (corpus / "coffee.txt").write_text("Brewing tea\n\nGreen tea steeps at 80 degrees for two minutes.\n")
    changed = ingest([corpus], "fixture")
    assert changed.files_changed == 1 and changed.chunks_updated >= 1 and changed.chunks_removed >= 1
    hits = query("fixture", "How long does green tea steep?", k=1)
    assert source_name(hits[0]) == "coffee.txt" and "Green tea" in hits[0].text
    assert not [h for h in query("fixture", "espresso pressure bar", k=10) if "espresso" in h.text]
    assert store.count() == before - changed.chunks_removed + changed.chunks_updated

    (corpus / "penguins.html").unlink()
    kept = ingest([corpus], "fixture")
    assert kept.files_pruned == 0 and kept.chunks_removed == 0  # without --prune nothing is removed
    pruned = ingest([corpus], "fixture", prune=True)
    assert pruned.files_pruned == 1 and pruned.chunks_removed >= 1
    assert all(source_name(h) != "penguins.html" for h in query("fixture", "emperor penguin egg", k=10))
    assert store.count() == before - changed.chunks_removed + changed.chunks_updated - pruned.chunks_removed


def test_bad_inputs_leave_no_state(corpus, tmp_path, embeddings):
    with pytest.raises(BadInput, match="no such file"):
        ingest([corpus, tmp_path / "missing"], "fixture")
    with pytest.raises(BadInput, match="collection name"):
        ingest([corpus], "X!")
    with pytest.raises(NotFound, match="collection 'nope' not found"):
        query("nope", "anything")
    assert list_collections() == []

    ingest([corpus / "coffee.txt"], "fixture")
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    (other_model / "config.json").write_text("{}")
    with pytest.raises(BadInput, match="embedded with 'all-MiniLM-L6-v2'.*'other-model' is refused"):
        query("fixture", "espresso", embedding_model=str(other_model))
    with pytest.raises(BadInput, match="embedded with 'all-MiniLM-L6-v2', not 'other-model'"):
        ingest([corpus], "fixture", embedding_model=str(other_model))
    with pytest.raises(BadInput, match="not a sentence-transformers model directory"):
        ingest([corpus], "other", embedding_model=str(tmp_path / "corpus"))
    assert [c.name for c in list_collections()] == ["fixture"]


def test_failed_first_ingest_drops_the_new_collection(corpus, embeddings, monkeypatch):
    from llmdeck.rag import stores

    def add_then_fail(self, ids, texts, metadatas, vectors):
        original_add(self, ids, texts, metadatas, vectors)
        raise RuntimeError("disk full")

    original_add = stores.ChromaStore.add
    monkeypatch.setattr(stores.ChromaStore, "add", add_then_fail)
    with pytest.raises(Exception, match="disk full"):
        ingest([corpus], "fixture")
    assert registry.find(registry.connect(), "fixture") is None
    client = stores.chroma_client(stores.default_location("chroma"))
    assert "fixture" not in [c.name if hasattr(c, "name") else c for c in client.list_collections()]


def test_remove_collection(corpus, embeddings):
    ingest([corpus / "coffee.txt"], "fixture")
    remove_collection("fixture")
    assert list_collections() == []
    with pytest.raises(NotFound):
        remove_collection("fixture")
