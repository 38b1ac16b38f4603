"""The rerank stage with a scripted likelihood: the fused top hits reordered (or fused with their order), the
rest left after them, config.toml's switch, a bad model named in one line, and rag eval's +rerank modes."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.rag.query import Retriever, reranker_for
from llmdeck.rag.rerank import LikelihoodReranker, open_reranker, rerank
from llmdeck.rag.stores import Hit
from llmdeck.services import rag_eval


def hit(name: str, text: str | None = None) -> Hit:
    return Hit(text or f"about {name}", {"source": f"/docs/{name}", "chunk": 0}, 0.5, name)


def scripted(relevance: dict[str, float], depth: int = 10, fuse: bool = False) -> LikelihoodReranker:
    """A likelihood read from a table by the document's text; records what it was asked."""
    asked: list[tuple[str, str]] = []

    def likelihood(question: str, document: str) -> float:
        asked.append((question, document))
        return relevance.get(document, -5.0)

    reranker = LikelihoodReranker(likelihood, "scripted", depth=depth, fuse=fuse)
    reranker.asked = asked  # type: ignore[attr-defined]
    return reranker


def test_the_top_hits_are_reordered_by_likelihood_and_the_rest_stay_behind():
    hits = [hit(n) for n in ("a.md", "b.md", "c.md", "d.md", "e.md")]
    reranker = scripted({"about c.md": -0.1, "about a.md": -0.9, "about b.md": -0.9}, depth=3)
    ranked = rerank("which one?", hits, reranker)
    assert [h.id for h in ranked] == ["c.md", "a.md", "b.md", "d.md", "e.md"]  # a/b tie: fused order kept
    assert [h.score for h in ranked[:3]] == [-0.1, -0.9, -0.9] and ranked[3].score == 0.5
    assert reranker.asked == [("which one?", f"about {n}") for n in ("a.md", "b.md", "c.md")]  # type: ignore[attr-defined]
    assert rerank("q", hits, None) is hits and rerank("q", [], reranker) == []


def test_fused_reranking_refines_the_order_instead_of_replacing_it():
    hits = [hit(n) for n in ("a.md", "b.md", "c.md", "d.md")]
    relevance = {"about b.md": 0.0, "about c.md": -0.2, "about a.md": -0.4}
    assert [h.id for h in rerank("q", hits, scripted(relevance))] == ["b.md", "c.md", "a.md", "d.md"]
    # fused with the retrieval's a b c d: b (ranks 2 and 1), then a (1 and 3) ahead of c (3 and 2)
    assert [h.id for h in rerank("q", hits, scripted(relevance, fuse=True))] == ["b.md", "a.md", "c.md", "d.md"]


class ScriptedRetriever(Retriever):
    """Dense and BM25 rankings from a script: hybrid fuses them as the real retriever does."""

    def __init__(self, dense: list[Hit], keyword: list[Hit]):
        self._dense, self._keyword = dense, keyword

    def dense(self, question, k):
        return self._dense[:k]

    def keyword(self, question, k):
        return self._keyword[:k]


def test_search_reranks_the_fused_candidates_deep_enough_then_cuts_to_k():
    docs = [hit(f"{n}.md") for n in "abcdefghijkl"]
    retriever = ScriptedRetriever(docs, list(reversed(docs)))
    reranker = scripted({"about h.md": 0.0})  # h: 8th of 12 in the dense order, 5th in bm25's
    top = retriever.search("where is h?", 2, "hybrid", reranker)
    assert top[0].id == "h.md" and len(top) == 2
    assert len(reranker.asked) == 10  # type: ignore[attr-defined]  # the fused top 10, though k is 2
    assert retriever.search("where is k?", 3, "dense", scripted({"about j.md": 0.0}))[0].id == "j.md"
    assert [h.id for h in retriever.search("where is k?", 2, "dense")] == ["a.md", "b.md"]


def test_config_switch_and_a_missing_model_named_in_one_line(tmp_path, llmdeck_home, monkeypatch):
    assert reranker_for(None) is None and reranker_for(False) is None  # the default: no rerank
    opened: list[tuple] = []
    monkeypatch.setattr("llmdeck.rag.rerank.open_reranker", lambda model, loaded=None: opened.append((model, loaded)))
    (llmdeck_home / "config.toml").write_text('rerank = true\nrerank_model = "my-model"\n')
    reranker_for(None, loaded="chat model")
    reranker_for(False, "other")  # naming a model turns it on
    assert opened == [(None, "chat model"), ("other", None)]
    (llmdeck_home / "config.toml").write_text("rerank = 3\n")
    with pytest.raises(BadInput, match="rerank"):
        reranker_for(None)
    with pytest.raises(BadInput, match=r"--rerank-model /nowhere/model.gguf: no such file or directory"):
        open_reranker("/nowhere/model.gguf")


def test_rag_eval_scores_a_reranked_mode_beside_the_plain_ones(tmp_path, monkeypatch):
    docs = [hit("a.md"), hit("b.md"), hit("c.md")]
    retriever = ScriptedRetriever(docs, docs)
    monkeypatch.setattr(rag_eval, "open_retriever", lambda collection, progress=True: retriever)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "where is c?", "sources": ["c.md"]}) + "\n")
    report = rag_eval.evaluate("docs", qa, ["hybrid", "hybrid+rerank"], reranker=scripted({"about c.md": 0.0}))
    ranks = {mode: outcomes[0].rank for mode, outcomes in report.outcomes.items()}
    assert ranks == {"hybrid": 3, "hybrid+rerank": 1}
    text = rag_eval.format_report(report)
    assert "hybrid+rerank 1.000" in text and "ms/query (median, p95)" in text
    assert {m["mode"] for m in report.to_dict()["modes"]} == {"hybrid", "hybrid+rerank"}
    with pytest.raises(BadInput, match="--retrieval 'hybrid\\+colbert'"):
        rag_eval.evaluate("docs", qa, ["hybrid+colbert"])
