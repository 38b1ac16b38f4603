"""Hybrid retrieval end to end on real Chroma and MiniLM: the ingest writes the BM25 index, a collection without
one gets it on first use, a killed ingest's stale index is synced, and rag eval scores every mode."""

from __future__ import annotations

import json

import pytest

from llmdeck.rag import bm25, registry
from llmdeck.rag.ingest import ingest
from llmdeck.rag.query import query, remove_collection
from llmdeck.services.doctor import diagnose
from llmdeck.services.rag_eval import evaluate
from tests.rag.conftest import QUESTIONS, source_name

pytestmark = pytest.mark.slow  # real embeddings and Chroma


def test_index_follows_ingest_is_built_on_first_use_and_eval_scores_every_mode(corpus, embeddings, tmp_path, capsys):
    ingest([corpus], "docs")
    known = bm25.registered(registry.connect(), "docs")
    assert bm25.state("docs", known) == "ok"
    for mode in ("dense", "bm25", "hybrid"):
        for question, expected in QUESTIONS[1:4]:
            assert source_name(query("docs", question, k=2, retrieval=mode)[0]) == expected, (mode, question)

    bm25.remove("docs")  # a collection from before indexes: doctor names it, --fix or the first query builds it
    findings = [f for f in diagnose().findings if f.kind == "rag index"]
    assert [f.detail for f in findings] == [
        "collection 'docs': BM25 index missing (the first query builds it; --fix does now)"
    ]
    report = diagnose(fix=True)
    assert report.errors == [] and [f.fixed for f in report.findings if f.kind == "rag index"] == [True]
    assert bm25.state("docs", known) == "ok"
    bm25.remove("docs")
    capsys.readouterr()
    assert source_name(query("docs", "espresso machine pressure", k=1, retrieval="bm25")[0]) == "coffee.txt"
    assert "bm25 index of 'docs': fetching" in capsys.readouterr().err
    assert bm25.state("docs", known) == "ok"

    (corpus / "coffee.txt").write_text("Brewing tea\n\nGreen tea steeps at 80 degrees for two minutes.\n")
    stale = bm25.load("docs")
    ingest([corpus], "docs")
    assert stale is not None
    bm25.save(stale, "docs")  # as if killed after the registry commit, before the index was renamed into place
    top = query("docs", "green tea steeping temperature", k=1, retrieval="bm25")[0]
    assert "Green tea" in top.text and bm25.state("docs", bm25.registered(registry.connect(), "docs")) == "ok"
    assert "espresso" not in " ".join(h.text for h in query("docs", "espresso", k=5, retrieval="bm25"))

    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps({"question": q, "sources": [s]}) for q, s in QUESTIONS[1:]) + "\n")
    report = evaluate("docs", qa)
    assert [r.mode for r in report.results] == ["dense", "bm25", "hybrid"]
    hybrid = report.results[2]
    assert hybrid.recall_5.value == 1.0 and hybrid.recall_1.n == len(QUESTIONS) - 1

    remove_collection("docs")
    assert bm25.load("docs") is None


def test_pinecone_collection_gets_its_index_from_the_emulator(corpus, pinecone_emulator, embeddings):
    ingest([corpus], "pine", "pinecone", pinecone_host=pinecone_emulator.url)
    bm25.remove("pine")
    for question, expected in QUESTIONS[1:4]:
        assert source_name(query("pine", question, k=2, retrieval="bm25")[0]) == expected
        assert source_name(query("pine", question, k=2)[0]) == expected
    index = bm25.load("pine")
    assert index is not None and index.metadatas[0]["chunk"] == int(index.metadatas[0]["chunk"])
    remove_collection("pine")
