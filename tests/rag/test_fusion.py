"""Reciprocal rank fusion of a dense and a keyword ranking, the per-source cap, and hybrid search made of them."""

from __future__ import annotations

import pytest

from llmdeck.rag.fusion import RRF_K, cap_per_source, reciprocal_rank_fusion
from llmdeck.rag.stores import Hit
from tests.rag.test_rerank import ScriptedRetriever


def hits(*ids: str) -> list[Hit]:
    return [Hit(f"text of {i}", {"source": f"{i}.md"}, 1.0, i) for i in ids]


def test_a_chunk_both_rankings_found_comes_first_and_once():
    fused = reciprocal_rank_fusion([hits("a", "b", "c"), hits("c", "d", "a")])
    assert [h.id for h in fused] == ["a", "c", "b", "d"]
    assert fused[0].score == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 3))


def test_ties_keep_the_first_rankings_order_and_weights_tilt_it():
    assert [h.id for h in reciprocal_rank_fusion([hits("a", "b"), hits("b", "a")])] == ["a", "b"]
    assert [h.id for h in reciprocal_rank_fusion([hits("a", "b"), hits("b", "a")], weights=[1, 2])] == ["b", "a"]


def test_one_empty_ranking_keeps_the_other():
    assert [h.id for h in reciprocal_rank_fusion([[], hits("x", "y")])] == ["x", "y"]
    assert reciprocal_rank_fusion([[], []]) == []


def test_hits_without_ids_are_told_apart_by_source_and_text():
    first = [Hit("same", {"source": "a.md", "chunk": 0}, 1.0), Hit("other", {"source": "a.md", "chunk": 1}, 0.5)]
    second = [Hit("same", {"source": "a.md", "chunk": 0}, 3.0)]
    assert [h.text for h in reciprocal_rank_fusion([first, second])] == ["same", "other"]


def test_weights_must_match_rankings():
    with pytest.raises(ValueError, match="1 weights for 2 rankings"):
        reciprocal_rank_fusion([hits("a"), hits("b")], weights=[1])


def test_the_cap_moves_a_sources_third_chunk_after_the_other_sources_and_drops_nothing():
    ranked = [Hit(f"t{i}", {"source": s}, 1.0, str(i)) for i, s in enumerate(["a", "a", "a", "b", "a", "b", "b"])]
    assert [h.id for h in cap_per_source(ranked)] == ["0", "1", "3", "5", "2", "4", "6"]
    assert [h.id for h in cap_per_source(ranked, cap=1)] == ["0", "3", "1", "2", "4", "5", "6"]


def test_hybrid_leans_on_dense_and_spreads_the_first_hits_over_sources():
    page = [Hit(f"section {i}", {"source": "page.rst"}, 1.0, f"page#{i}") for i in range(4)]
    other = [Hit(f"other {i}", {"source": f"o{i}.rst"}, 1.0, f"o{i}") for i in range(3)]
    dense, keyword = page + other[:1], [other[1], other[2], other[0]]  # o0: found by both, first when fused
    retriever = ScriptedRetriever(dense, keyword)
    # at 2:1 dense's page#1 stays ahead of bm25's first (o1); the cap then moves page#2 and page#3 after o2
    assert [h.id for h in retriever.search("q", k=5, mode="hybrid")] == ["o0", "page#0", "page#1", "o1", "o2"]
    equal = [h.id for h in reciprocal_rank_fusion([dense, keyword])]
    assert equal[:5] == ["o0", "page#0", "o1", "page#1", "o2"]  # equal weights: o1 before page#1
    assert [h.id for h in retriever.search("q", k=5, mode="dense")] == ["page#0", "page#1", "page#2", "page#3", "o0"]
