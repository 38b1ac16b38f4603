"""services.chat's session orchestration (what the app's chat screen and the CLI share): regenerate,
edit-and-resend, per-session system prompt and sampling, the answering model per message, context use."""

from __future__ import annotations

import pytest

from llmdeck.core import sessions
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.errors import BadInput
from llmdeck.core.store import ModelStore
from llmdeck.services.chat import chat, edit_and_resend, regenerate, session_options, set_session_options


def turns(session_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in sessions.messages(session_id)]


def test_regenerate_replaces_only_the_last_answer(fake_model):
    fake_model.enqueue("first answer", "second answer", "again")
    first = chat("one", session=True)
    first.read()
    sid = first.session_id
    chat("two", session=sid).read()
    response = regenerate(sid)
    assert response.read() == "again"
    assert turns(sid) == [("user", "one"), ("assistant", "first answer"), ("user", "two"), ("assistant", "again")]
    # the model saw the history without the dropped answer
    assert fake_model.calls[-1]["messages"][-1] == {"role": "user", "content": "two"}
    assert [m["content"] for m in fake_model.calls[-1]["messages"]] == ["one", "first answer", "two"]


def test_edit_and_resend_replaces_the_last_question(fake_model):
    fake_model.enqueue("a", "b")
    sid = chat("helo", session=True)
    sid.read()
    edit_and_resend(sid.session_id, "hello").read()
    assert turns(sid.session_id) == [("user", "hello"), ("assistant", "b")]


def test_a_refused_regenerate_leaves_the_conversation_as_it_was(fake_model, copied_gguf):
    fake_model.enqueue("kept")
    ModelStore().register(copied_gguf, name="gone")
    response = chat("q", model="gone", session=True)
    response.read()
    ModelStore().remove("gone")
    with pytest.raises(BadInput, match="gone"):
        regenerate(response.session_id)
    assert turns(response.session_id) == [("user", "q"), ("assistant", "kept")]
    with pytest.raises(BadInput, match="no question"):
        regenerate(sessions.create_session().id)


def test_session_options_apply_to_later_turns_until_a_call_overrides_them(fake_model):
    fake_model.enqueue("x", "y", "z")
    sid = sessions.create_session().id
    assert session_options(sid)["system"] is None
    saved = set_session_options(sid, system="Be terse.", temperature=0.1, max_tokens=32)
    assert saved == {"system": "Be terse.", "temperature": 0.1, "top_p": 0.95, "max_tokens": 32}
    chat("two", session=sid).read()
    call = fake_model.calls[-1]
    assert call["messages"][0] == {"role": "system", "content": "Be terse."}
    assert call["temperature"] == 0.1 and call["max_tokens"] == 32
    chat("three", session=sid, system="Be verbose.").read()
    assert fake_model.calls[-1]["messages"][0]["content"] == "Be verbose."
    assert session_options(sid)["system"] == "Be terse."  # an explicit value is for that turn only
    set_session_options(sid, system="")
    assert session_options(sid)["system"] is None


def test_bad_session_options_name_the_field(fake_model):
    sid = sessions.create_session().id
    with pytest.raises(BadInput, match="--top-p 5"):
        set_session_options(sid, top_p=5)


def test_each_answer_records_its_model_and_a_switch_moves_the_session(fake_model, copied_gguf):
    ModelStore().register(copied_gguf, name="other")
    fake_model.enqueue("from default", "from other")
    first = chat("a", session=True)
    first.read()
    sid = first.session_id
    chat("b", session=sid, model="other").read()
    assert [m.model for m in sessions.messages(sid)] == [None, EMBEDDED_CHAT_MODEL_NAME, None, "other"]
    assert sessions.get_session(sid).model == "other"
    assert "**assistant** (other):" in sessions.export_session(sid)


def test_response_reports_context_use(fake_model):
    fake_model.enqueue("four")
    response = chat("two plus two", session=True)
    response.read()
    assert response.n_ctx == 2048
    # 3 prompt tokens ("two", " ", "plus"...) plus the template framing of one message
    assert response.prompt_tokens == 5 + 8


def test_rename_and_update_session():
    sid = sessions.create_session(title="old").id
    assert sessions.rename_session(sid, "  new title ").title == "new title"
    with pytest.raises(BadInput):
        sessions.rename_session(sid, " ")
    assert sessions.update_session(sid, rag_collection="docs").rag_collection == "docs"
    assert sessions.update_session(sid, rag_collection=None).rag_collection is None
    with pytest.raises(BadInput, match="colour"):
        sessions.update_session(sid, options={"colour": 1})


def test_a_session_remembers_the_adapter_of_its_last_turn(fake_model, monkeypatch, tmp_path):
    """So the app resumes an adapter chat with the adapter, not silently on the bare base model."""
    from llmdeck.services import chat as service

    applied = []

    def resolve(model, adapter):  # the run's LoRA without a run: the plumbing is what is checked here
        applied.append(adapter)
        return ModelStore().resolve(model), str(tmp_path / "adapter.gguf") if adapter else None

    monkeypatch.setattr(service, "resolve_model", resolve)
    fake_model.enqueue("as the run", "as the run again", "bare")
    first = chat("who made you?", session=True, adapter="run-1")
    first.read()
    sid = first.session_id
    assert sessions.get_session(sid).options["adapter"] == "run-1"
    set_session_options(sid, temperature=0.5)  # other options leave it alone
    assert sessions.get_session(sid).options["adapter"] == "run-1"
    regenerate(sid, adapter="run-1").read()
    assert sessions.get_session(sid).options["adapter"] == "run-1" and applied == ["run-1", "run-1"]
    chat("and now?", session=sid).read()  # a turn without it: the session no longer claims it
    assert "adapter" not in sessions.get_session(sid).options
    assert "adapter" not in session_options(sid)  # the options dialog shows system prompt and sampling only
