"""services.chat on the scripted fake model: the three modes, the response object, storing and refusing."""

from __future__ import annotations

import threading

import pytest

from llmdeck.core import sessions
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.errors import BadInput, NotFound
from llmdeck.core.runtime import Sampling, load_model
from llmdeck.services.chat import chat

GREEDY = Sampling(temperature=0.0, max_tokens=64)


def test_plain_chat_streams_pieces_and_counts_tokens_not_chunks(fake_model):
    fake_model.enqueue(["Hello", " there, friend", "!"])  # the middle chunk holds four tokens
    response = chat("Hi", sampling=GREEDY)
    pieces = list(response)
    assert pieces == ["Hello", " there, friend", "!"]
    assert response.done and response.text == "Hello there, friend!"
    assert response.stats.tokens == 7  # Hello, ' ', there, ',', ' ', friend, '!'
    assert response.model == EMBEDDED_CHAT_MODEL_NAME and response.model_file.endswith(".gguf")
    assert fake_model.calls[-1]["messages"] == [{"role": "user", "content": "Hi"}]


def test_done_event_names_the_model_and_carries_stats(fake_model):
    fake_model.enqueue("Four.")
    response = chat("What is 2 + 2?", system="Be brief.", sampling=GREEDY)
    response.read()
    event = response.done_event().to_json()  # the closing line of `--json`
    assert event["type"] == "done" and event["model"] == EMBEDDED_CHAT_MODEL_NAME
    assert event["tokens"] == 2 and event["finish_reason"] == "stop"
    assert "session" not in event and "sources" not in event
    assert fake_model.calls[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_max_tokens_cuts_the_answer(fake_model):
    fake_model.enqueue("one two three four five six")
    response = chat("count", sampling=Sampling(temperature=0.0, max_tokens=3))
    assert response.read() == "one two"  # three tokens: one, ' ', two
    assert response.stats.finish_reason == "length" and response.stats.tokens == 3


def test_session_remembers_turns_and_windows_them(fake_model):
    fake_model.enqueue("Nice to meet you, Ada.", "Your name is Ada.")
    first = chat("My name is Ada.", session="s1", sampling=GREEDY)
    first.read()
    second = chat("What is my name?", session="s1", sampling=GREEDY)
    second.read()
    assert first.session_id == second.session_id == "s1"
    assert fake_model.calls[-1]["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    assert [(m.role, m.content) for m in sessions.messages("s1")][-1] == ("assistant", "Your name is Ada.")
    assert sessions.get_session("s1").model == EMBEDDED_CHAT_MODEL_NAME


def test_new_session_gets_an_id(fake_model):
    fake_model.enqueue("ok")
    response = chat("hello", session=True, sampling=GREEDY)
    response.read()
    assert response.session_id and [m.role for m in sessions.messages(response.session_id)] == ["user", "assistant"]


def test_long_session_keeps_the_newest_whole_turns(fake_model):
    fake_model.n_ctx = lambda: 300
    for turn in range(30):
        sessions.open_session("long")
        sessions.add_message("long", "user", f"question {turn} " + "word " * 10)
        sessions.add_message("long", "assistant", f"answer {turn} " + "word " * 10)
    fake_model.enqueue("fine")
    chat("last question", session="long", sampling=GREEDY).read()
    sent = fake_model.calls[-1]["messages"]
    assert sent[-1] == {"role": "user", "content": "last question"}
    assert sent[0]["role"] == "user" and 2 < len(sent) < 61
    assert sent[-2]["content"].startswith("answer 29")  # the newest turns stay


def test_a_refused_question_is_never_stored(fake_model):
    fake_model.n_ctx = lambda: 64
    with pytest.raises(BadInput, match="exceeds the context window"):
        chat("word " * 200, session="refused", sampling=Sampling(max_tokens=16))
    assert sessions.find_session("refused") is None
    sessions.open_session("kept")
    with pytest.raises(BadInput, match="exceeds the context window"):
        chat("word " * 200, session="kept", sampling=Sampling(max_tokens=16))
    assert sessions.messages("kept") == []
    assert fake_model.calls == []  # nothing reached the model


def test_empty_prompt_and_unknown_model_are_bad_input(fake_model):
    with pytest.raises(BadInput, match="empty"):
        chat("   ")
    with pytest.raises(NotFound, match="ghost"):
        chat("hi", model="ghost")


def test_close_mid_answer_releases_the_model_and_stores_the_answer_marked_stopped(fake_model):
    fake_model.enqueue("one two three four five")
    response = chat("count", session="stopped", sampling=GREEDY)
    iterator = iter(response)
    assert next(iterator) == "one"
    assert next(iterator) == " "
    loaded = load_model(None)
    assert loaded.lock.locked()  # generation holds the model
    response.close()
    assert not loaded.lock.locked() and response.cancelled and not response.done
    assert list(iterator) == []
    # the stats of a stopped answer count what it generated
    assert (response.stats.text, response.stats.tokens) == ("one ", 2)
    stored = sessions.messages("stopped")
    assert [(m.role, m.content, m.stopped) for m in stored] == [("user", "count", False), ("assistant", "one ", True)]
    response.close()  # closing twice is harmless
    assert len(sessions.messages("stopped")) == 2


def test_a_second_chat_waits_for_the_first_to_release_the_model(fake_model):
    fake_model.enqueue("first answer", "second answer")
    first = chat("one", sampling=GREEDY)
    iterator = iter(first)
    next(iterator)
    finished = []
    second = chat("two", sampling=GREEDY)
    thread = threading.Thread(target=lambda: finished.append(second.read()))
    thread.start()
    thread.join(0.3)
    assert finished == []  # blocked on the model's lock
    first.close()
    thread.join(5)
    assert finished == ["second answer"]


def test_rag_unknown_collection_touches_no_session(fake_model):
    with pytest.raises(NotFound, match="collection 'nope' not found"):
        chat("hi", rag="nope", session="s2")
    assert sessions.find_session("s2") is None
