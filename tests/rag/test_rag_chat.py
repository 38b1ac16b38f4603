"""RAG chat: follow-up condensing through history, citations, context budgeting, session memory."""

from __future__ import annotations

import pytest

from llmdeck.core import sessions
from llmdeck.core.runtime import Sampling, load_model
from llmdeck.rag.chat import condense_question, fit_prompt
from llmdeck.rag.ingest import ingest
from llmdeck.rag.stores import Hit
from llmdeck.services.chat import chat


def fake_condenser(*replies: str):
    from langchain_core.language_models import FakeListChatModel

    return FakeListChatModel(responses=list(replies))


@pytest.fixture
def small_model():
    return load_model(None, n_ctx=2048)


def test_condense_uses_history_only_for_follow_ups():
    condenser = fake_condenser("When did Mount Vesuvius erupt?")
    assert condense_question("When did it erupt?", [], condenser) == "When did it erupt?"  # no history: untouched
    history = [
        {"role": "user", "content": "Tell me about Vesuvius"},
        {"role": "assistant", "content": "It is a volcano."},
    ]
    assert condense_question("When did it erupt?", history, condenser) == "When did Mount Vesuvius erupt?"


@pytest.mark.slow
def test_follow_up_resolves_pronoun_and_session_survives(corpus, embeddings, small_model):
    ingest([corpus], "fixture")
    sampling = Sampling(temperature=0.0, max_tokens=24, seed=1)
    first = chat("How does an espresso machine brew coffee?", rag="fixture", session="s1", sampling=sampling)
    text = first.read()
    assert text.strip() and first.sources[0]["source"].endswith("coffee.txt") and first.sources[0]["n"] == 1
    assert first.standalone_question == "How does an espresso machine brew coffee?"  # nothing to condense yet

    # "they" only makes sense with the history: the condenser turns it into a standalone question
    condenser = fake_condenser("Who incubates the egg of emperor penguins?")
    follow = chat("And who incubates their egg?", rag="fixture", session="s1", sampling=sampling, condenser=condenser)
    follow.read()
    assert follow.standalone_question == "Who incubates the egg of emperor penguins?"
    assert follow.sources[0]["source"].endswith("penguins.html")
    assert follow.done_event().to_json()["sources"][0] == {k: follow.sources[0][k] for k in ("n", "source", "chunk")}

    stored = sessions.messages("s1")
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[1].content == first.text and stored[3].sources == follow.sources
    assert sessions.get_session("s1").rag_collection == "fixture"


@pytest.mark.slow
def test_prompt_budget_drops_oldest_history_then_lowest_chunks():
    tiny = load_model(None, n_ctx=512)
    hits = [Hit(f"chunk {i} " + "word " * 60, {"source": f"doc{i}.txt", "chunk": 0}, 1.0 - i / 10) for i in range(6)]
    history = []
    for turn in range(8):
        history += [
            {"role": "user", "content": f"question {turn} " + "filler " * 20},
            {"role": "assistant", "content": f"answer {turn} " + "filler " * 20},
        ]
    messages, kept_hits, window = fit_prompt(tiny, "final question?", history, hits, max_tokens=64)
    assert len(kept_hits) < len(hits) and kept_hits == hits[: len(kept_hits)]  # lowest-ranked dropped
    assert window == []  # history goes before any chunk does
    assert messages[-1] == {"role": "user", "content": "final question?"}
    assert "[1] (doc0.txt)" in messages[0]["content"]

    roomy = load_model(None, n_ctx=4096)
    messages, kept_hits, window = fit_prompt(roomy, "q?", history[-4:], hits[:2], max_tokens=64)
    assert kept_hits == hits[:2] and window == history[-4:]
    long_session = history * 12
    _, kept_hits, window = fit_prompt(roomy, "q?", long_session, hits[:2], max_tokens=64)
    assert kept_hits == hits[:2]  # chunks stay while old history can still go
    assert (
        0 < len(window) < len(long_session) and window == long_session[-len(window) :] and window[0]["role"] == "user"
    )


@pytest.mark.slow
def test_abandoned_answer_is_stored_marked_stopped(corpus, embeddings, small_model):
    ingest([corpus / "coffee.txt"], "fixture")
    response = chat(
        "How is cold brew made?",
        rag="fixture",
        session="crash",
        sampling=Sampling(temperature=0.0, max_tokens=32, seed=1),
    )
    next(iter(response))  # the answer has started...
    response.close()  # ...and is abandoned mid-answer
    stored = sessions.messages("crash")
    assert [(m.role, m.stopped) for m in stored] == [("user", False), ("assistant", True)]
    assert stored[0].content == "How is cold brew made?"
    assert stored[1].content.strip(), "the stopped answer keeps the text generated until then"
