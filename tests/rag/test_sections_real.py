"""End to end on real Chroma, MiniLM and the embedded SmolLM2: a section path goes from ingest to the store, the
query and the citation `rag query` prints; the real model's likelihood of "yes" ranks a relevant chunk first;
`--rerank-model DIR` reranks with a cross-encoder from that folder (a tiny random one, MiniLM's tokenizer)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.rag.documents import citation
from llmdeck.rag.ingest import ingest
from llmdeck.rag.query import open_collection, query
from llmdeck.rag.rerank import LikelihoodReranker, yes_likelihood
from tests.rag.test_structure import FUNCTOOLS_RST

pytestmark = pytest.mark.slow  # real embeddings, Chroma and llama.cpp


def test_section_path_from_ingest_to_citation_and_a_real_rerank(corpus, embeddings):
    (corpus / "functools.rst.txt").write_text(FUNCTOOLS_RST, encoding="utf-8")
    first = ingest([corpus], "docs")
    again = ingest([corpus], "docs")
    assert again.chunks_added == 0 and again.chunks_skipped == first.chunks_added  # ids are deterministic
    _, _, store = open_collection("docs")
    stored = store.texts([h.id for h in query("docs", "memoizing callable maxsize", k=3, retrieval="bm25")])
    assert "functools > lru_cache" in {meta.get("section") for _, meta in stored.values()}
    top = query("docs", "How do I make a function remember the results it already computed?", k=1)[0]
    assert top.metadata["section"].startswith("functools > ") and top.text.startswith(top.metadata["section"])
    volcano = query("docs", "Which city was buried when Vesuvius erupted?", k=1, retrieval="dense")[0]
    assert citation(volcano.metadata) == "volcanoes.md § Vesuvius"

    shown = CliRunner().invoke(cli, ["rag", "query", "-c", "docs", "memoizing callable lru_cache maxsize", "-k", "1"])
    assert shown.exit_code == 0, shown.output
    assert "functools.rst.txt § lru_cache (chunk " in shown.stdout.splitlines()[0]

    from llmdeck.core.runtime import load_model

    reranker = LikelihoodReranker(yes_likelihood(load_model(None, n_ctx=2048)), "smollm2")
    question = "How much pressure does an espresso machine use?"
    coffee = "An espresso machine forces hot water through finely ground coffee at about 9 bar of pressure."
    scores = reranker.scores(question, ["Emperor penguins breed during the Antarctic winter.", coffee])
    assert scores[1] > scores[0] and all(s < 0 for s in scores)  # log-probabilities, relevant one higher
    assert reranker.scores(question, [coffee]) == pytest.approx([scores[1]], abs=1e-3)  # the cached prefix agrees
    reranker.depth = 3
    reranked = query("docs", question, k=2, reranker=reranker)
    assert len(reranked) == 2 and reranked[0].score <= 0  # scored by the model, not the fusion


def tiny_cross_encoder(where):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from llmdeck.rag.embeddings import resolve_embedding

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedding(None).source)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(where)
    tokenizer.save_pretrained(where)
    return where


def test_rag_query_reranks_with_a_cross_encoder_from_a_folder(corpus, embeddings, tmp_path):
    ingest([corpus], "docs")
    folder = tiny_cross_encoder(tmp_path / "cross-encoder")
    args = ["rag", "query", "-c", "docs", "Which city was buried when Vesuvius erupted?", "-k", "3", "--json"]
    plain = json.loads(CliRunner().invoke(cli, args).stdout)
    shown = CliRunner().invoke(cli, [*args, "--rerank-model", str(folder)])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert len(rows) == 3 and all(0.0 < row["score"] < 1.0 for row in rows)  # the cross-encoder's sigmoid
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert [r["score"] for r in rows] != [r["score"] for r in plain]  # not the fused scores
