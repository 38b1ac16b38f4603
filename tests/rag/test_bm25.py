"""The BM25 index beside a collection: build, save/load round trip, sync with the registry's chunk ids."""

from __future__ import annotations

from llmdeck.rag import bm25

TEXTS = {
    "c1": "Mount Vesuvius erupted in 79 AD and buried Pompeii under ash.",
    "c2": "An espresso machine forces hot water through ground coffee at 9 bar.",
    "c3": "Emperor penguins breed during the Antarctic winter; the male incubates the egg.",
    "c4": "Feed a sourdough starter flour and water daily.",
}


def built(ids=("c1", "c2", "c3")) -> bm25.Bm25Index:
    return bm25.build(list(ids), [TEXTS[i] for i in ids], [{"source": f"{i}.md", "chunk": 0} for i in ids])


def test_keyword_search_ranks_the_matching_chunk_first():
    index = built()
    assert [h.id for h in index.search("espresso pressure bar", 3)] == ["c2"]
    assert index.search("Vesuvius", 1)[0].metadata == {"source": "c1.md", "chunk": 0}
    assert index.search("zeppelin", 3) == [] and index.search("the and of", 3) == []


def test_save_and_load_round_trip_gives_the_same_results():
    index = built()
    path = bm25.save(index, "col")
    assert path.name == "col.npz" and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    loaded = bm25.load("col")
    assert loaded is not None and loaded.fingerprint == index.fingerprint
    for question in ("penguin egg winter", "coffee machine water", "Pompeii ash"):
        assert [(h.id, round(h.score, 5)) for h in loaded.search(question, 3)] == [
            (h.id, round(h.score, 5)) for h in index.search(question, 3)
        ]


def test_a_damaged_or_missing_index_is_none_and_reads_as_missing(llmdeck_home):
    assert bm25.load("col") is None and bm25.state("col", {"c1"}) == "missing"
    bm25.save(built(), "col")
    assert bm25.state("col", {"c1", "c2", "c3"}) == "ok" and bm25.state("col", {"c1"}) == "stale"
    bm25.index_path("col").write_bytes(b"PK\x03\x04 not really a zip")
    assert bm25.load("col") is None


def test_sync_keeps_registered_chunks_and_fetches_only_the_missing_ones():
    bm25.save(built(), "col")
    asked: list[list[str]] = []

    def fetch(ids):
        asked.append(ids)
        return {i: (TEXTS[i], {"source": f"{i}.md"}) for i in ids}

    index = bm25.updated("col", {"c2", "c3", "c4"}, {}, fetch)  # c1 removed by an ingest, c4 added
    assert asked == [["c4"]] and sorted(index.ids) == ["c2", "c3", "c4"]
    assert [h.id for h in index.search("sourdough starter", 2)] == ["c4"] and index.search("Vesuvius", 2) == []
    assert bm25.updated("col", {"c2", "c3", "c4"}, {}, fetch).fingerprint == index.fingerprint
    assert len(asked) == 1  # in sync: loaded, nothing fetched


def test_a_store_that_lost_chunks_gets_no_saved_index():
    index = bm25.updated("col", {"c1", "c2"}, {"c1": (TEXTS["c1"], {})}, lambda ids: {})
    assert index.ids == ["c1"] and bm25.load("col") is None


def test_an_empty_collection_index_searches_nothing():
    index = bm25.build([], [], [])
    bm25.save(index, "empty")
    loaded = bm25.load("empty")
    assert loaded is not None and loaded.search("anything", 5) == []


def test_a_loaded_index_scores_exactly_as_bm25s_does(llmdeck_home):
    """A saved index is scored by SavedScores (no bm25s import): the same terms, repeats kept and stopwords
    dropped, and bit-equal scores to the bm25s index it was saved from."""
    index = built(("c1", "c2", "c3", "c4"))
    bm25.save(index, "col")
    loaded = bm25.load("col")
    assert loaded is not None and isinstance(loaded.retriever, bm25.SavedScores)
    for question in ("the water and the coffee WATER", "Feed the starter: flour, flour!", "egg of the penguins"):
        terms = bm25.query_terms(question, "", loaded.retriever.vocab_dict)
        assert terms == [t for t in bm25.tokenize([question])[0] if t in index.retriever.vocab_dict]
        assert loaded.retriever.get_scores(terms).tolist() == index.retriever.get_scores(terms).tolist()
    assert bm25.query_terms("the water water", "", loaded.retriever.vocab_dict) == ["water", "water"]


def test_a_process_reads_an_index_again_once_the_file_changed(llmdeck_home):
    bm25.save(built(("c1", "c2")), "col")
    first = bm25.load("col")
    assert first is not None and bm25.load("col") is first
    bm25.save(built(("c1", "c2", "c3")), "col")
    again = bm25.load("col")
    assert again is not None and again is not first and again.ids == ["c1", "c2", "c3"]
    bm25.remove("col")
    assert bm25.load("col") is None
