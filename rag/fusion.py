"""Reciprocal rank fusion: one ranking from several (dense and BM25), by 1 / (k + rank) summed per chunk, the
per-source cap, and hybrid search's ranking made of the two (`hybrid`).

LangChain's EnsembleRetriever does the same weighted RRF, but over Retriever objects that re-run each search;
the two rankings are already here, so this is the one small function (same formula, same default k = 60).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from llmdeck.rag.stores import Hit

RRF_K = 60
# Hybrid's defaults, measured in docs/rag-retrieval.md: chosen on one question set, then confirmed on 100 fresh
# paraphrased questions (recall@5 +0.08 [+0.02, +0.14] over equal weights and no cap, recall@1 -0.01 [-0.05, +0.03]).
HYBRID_WEIGHTS = (2.0, 1.0)  # dense, bm25: a paraphrase shares meaning more often than words
PER_SOURCE = 2  # chunks of one file before the next file's: five hits are then not five sections of one page


def _key(hit: Hit) -> str:
    return hit.id or f"{hit.metadata.get('source')}#{hit.metadata.get('chunk')}#{hit.text[:200]}"


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[Hit]:
    """Fuse best-first rankings; each hit's score becomes its fused score, ties keep the first ranking's order.
    A chunk found by several rankings appears once (the first ranking's copy of it)."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    order: dict[str, int] = {}
    for weight, ranking in zip(weights, rankings):
        for rank, hit in enumerate(ranking, start=1):
            key = _key(hit)
            if key not in first:
                first[key], order[key] = hit, len(order)
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    ranked = sorted(scores, key=lambda key: (-scores[key], order[key]))
    return [replace(first[key], score=scores[key]) for key in ranked]


def cap_per_source(hits: Sequence[Hit], cap: int = PER_SOURCE) -> list[Hit]:
    """The hits in order with at most `cap` per source file first, the rest after them in their order
    (nothing dropped: a search deeper than the distinct sources still returns them)."""
    kept: list[Hit] = []
    later: list[Hit] = []
    seen: dict[object, int] = {}
    for hit in hits:
        source = hit.metadata.get("source")
        seen[source] = seen.get(source, 0) + 1
        (kept if seen[source] <= cap else later).append(hit)
    return kept + later


def hybrid(dense: Sequence[Hit], keyword: Sequence[Hit]) -> list[Hit]:
    """Hybrid search's ranking of a question's dense and BM25 rankings: fused at HYBRID_WEIGHTS, then capped
    at PER_SOURCE chunks a file before the next file's."""
    return cap_per_source(reciprocal_rank_fusion([dense, keyword], HYBRID_WEIGHTS))
