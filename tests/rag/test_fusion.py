"""Reciprocal rank fusion of a dense and a keyword ranking."""

from __future__ import annotations

import pytest

from llmdeck.rag.fusion import RRF_K, reciprocal_rank_fusion
from llmdeck.rag.stores import Hit


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
