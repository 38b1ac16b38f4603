"""RAG chat: follow-up condensing through history, citations, context budgeting, session memory."""

from __future__ import annotations

import pytest

from core import sessions
from core.errors import NotFound
from rag.chat import RagAnswer, condense_question, fit_prompt, stream_rag_chat
from rag.ingest import ingest
from rag.stores import Hit
from core.runtime import Sampling, load_model


def fake_condenser(*replies: str):
    from langchain_core.language_models import FakeListChatModel

    return FakeListChatModel(responses=list(replies))


@pytest.fixture
def small_model():
    return load_model(None, n_ctx=2048)


def test_condense_uses_history_only_for_follow_ups():
    condenser = fake_condenser("When did Mount Vesuvius erupt?")
    assert condense_question("When did it erupt?", [], condenser) == "When did it erupt?"  # no history: untouched
    history = [{"role": "user", "content": "Tell me about Vesuvius"}, {"role": "assistant", "content": "It is a volcano."}]
    assert condense_question("When did it erupt?", history, condenser) == "When did Mount Vesuvius erupt?"


def test_follow_up_resolves_pronoun_and_session_survives(corpus, embeddings, small_model):
    ingest([corpus], "fixture")
    sampling = Sampling(temperature=0.0, max_tokens=24, seed=1)
    first = RagAnswer()
    text = "".join(stream_rag_chat("How does an espresso machine brew coffee?", "fixture", "s1", model=small_model,
                                   sampling=sampling, answer=first))
    assert text.strip() and first.sources[0]["source"].endswith("coffee.txt") and first.sources[0]["n"] == 1
    assert first.standalone_question == first.question  # nothing to condense yet

    # "they" only makes sense with the history: the condenser turns it into a standalone question
    follow = RagAnswer()
    condenser = fake_condenser("Who incubates the egg of emperor penguins?")
    "".join(stream_rag_chat("And who incubates their egg?", "fixture", "s1", model=small_model, sampling=sampling,
                            condenser=condenser, answer=follow))
    assert follow.standalone_question == "Who incubates the egg of emperor penguins?"
    assert follow.sources[0]["source"].endswith("penguins.html")
    assert follow.history_used == 2

    stored = sessions.messages("s1")
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[1].content == first.text and stored[3].sources == follow.sources
    assert sessions.get_session("s1").rag_collection == "fixture"


def test_unknown_collection_touches_no_session(small_model):
    with pytest.raises(NotFound, match="collection 'nope' not found"):
        list(stream_rag_chat("hi", "nope", "s2", model=small_model))
    assert sessions.find_session("s2") is None


def test_prompt_budget_drops_oldest_history_then_lowest_chunks():
    tiny = load_model(None, n_ctx=512)
    hits = [Hit(f"chunk {i} " + "word " * 60, {"source": f"doc{i}.txt", "chunk": 0}, 1.0 - i / 10) for i in range(6)]
    history = []
    for turn in range(8):
        history += [{"role": "user", "content": f"question {turn} " + "filler " * 20},
                    {"role": "assistant", "content": f"answer {turn} " + "filler " * 20}]
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
    assert 0 < len(window) < len(long_session) and window == long_session[-len(window):] and window[0]["role"] == "user"


def test_abandoned_answer_keeps_the_question_only(corpus, embeddings, small_model):
    ingest([corpus / "coffee.txt"], "fixture")
    stream = stream_rag_chat("How is cold brew made?", "fixture", "crash", model=small_model,
                             sampling=Sampling(temperature=0.0, max_tokens=32, seed=1))
    next(stream)  # the answer has started...
    stream.close()  # ...and the process goes away mid-answer
    assert [(m.role, m.content) for m in sessions.messages("crash")] == [("user", "How is cold brew made?")]
