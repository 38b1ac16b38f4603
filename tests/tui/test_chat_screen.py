"""The chat screen, driven with the Pilot: answers stream through services.chat in a worker (scripted fake
model in the fast tier; the embedded SmolLM2 and real embeddings in the slow tests); a run's adapter applied
("chat with this run", from the train screen) is named in the status line and reaches the service."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmdeck.core import sessions
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.settings import update_settings
from llmdeck.core.store import ModelStore
from llmdeck.testing.fake_model import fake_tokens as sessions_tokens
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tui.screens.chat import AWAY_MARKER, ChatScreen
from llmdeck.tui.script import screen_text
from llmdeck.tui.widgets.chat_log import ChatBubble
from llmdeck.tui.widgets.session_list import SessionItem
from tests.tui.helpers import status, type_and_send, wait_for

SIZE = (120, 34)


def transcript(screen) -> list[tuple[str, str]]:
    return [(b.role, b.text) for b in screen.query(ChatBubble)]


async def answered(pilot, screen) -> None:
    await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(pilot.app), what="the answer")


async def ready(pilot) -> ChatScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await wait_for(pilot, lambda: screen.model_name is not None and screen.query_one("#chat-pickers").models)
    return screen


async def test_header_names_the_model_and_answers_stream_into_a_stored_session(fake_model):
    fake_model.enqueue(["Hello", " **Ada**", "!"])
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert status(app) == f"model: {EMBEDDED_CHAT_MODEL_NAME}"
        assert screen.query_one("#model-select").value == EMBEDDED_CHAT_MODEL_NAME
        await type_and_send(pilot, "I am Ada", typed=True)
        await answered(pilot, screen)
        assert transcript(screen) == [("user", "I am Ada"), ("assistant", "Hello **Ada**!")]
        # rendered as Markdown: the bold markers are not on the screen
        assert "Hello Ada!" in screen_text(app) and "**Ada**" not in screen_text(app)
        # Hello, ' ', '*', '*', Ada, '*', '*', '!'; the prompt is 5 tokens + 8 of framing
        assert status(app).startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME} - 8 tokens")
        assert "context 21/2048 (1%)" in status(app)
        stored = sessions.messages(screen.session_id)
        assert [(m.role, m.content) for m in stored] == [("user", "I am Ada"), ("assistant", "Hello **Ada**!")]
        # the session appears in the sidebar
        await wait_for(pilot, lambda: len(screen.query(SessionItem)) == 1)


@pytest.mark.slow  # Pilot-heavy: the fast tier keeps one test per flow
async def test_the_chat_keeps_its_model_and_a_switch_is_marked(fake_model, copied_gguf):
    ModelStore().register(copied_gguf, name="other")
    fake_model.enqueue("one", "two", "three")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "hi")
        await answered(pilot, screen)
        ModelStore().set_default("other")  # the store default moving does not move the chat
        await type_and_send(pilot, "again")
        await wait_for(pilot, lambda: len(fake_model.calls) == 2 and not screen.busy and "tok/s" in status(app))
        assert screen.model_name == EMBEDDED_CHAT_MODEL_NAME
        screen.query_one("#model-select").value = "other"  # the picker does
        await pilot.pause()
        assert ("note", "model switched to other") in transcript(screen)
        await type_and_send(pilot, "third")
        await answered(pilot, screen)
        assert status(app).startswith("model: other")
        assert [m.model for m in sessions.messages(screen.session_id) if m.role == "assistant"] == [
            EMBEDDED_CHAT_MODEL_NAME,
            EMBEDDED_CHAT_MODEL_NAME,
            "other",
        ]


async def test_escape_stops_an_answer_at_once_and_stores_it_marked_stopped(fake_model):
    fake_model.delay_s = 0.02
    fake_model.enqueue("word " * 400)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "talk")
        await wait_for(pilot, lambda: len(screen.query_one("#chat-log").last_bubble().text) > 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.busy)
        assert fake_model.active_streams == 0 and fake_model.chunks_streamed < 800
        stored = sessions.messages(screen.session_id)
        assert [(m.role, m.stopped) for m in stored] == [("user", False), ("assistant", True)]
        answer = stored[1].content
        assert answer.startswith("word word") and len(answer) < len("word " * 400)
        # the status line counts what was generated, not "0 tokens"
        tokens = len(sessions_tokens(answer))
        assert status(app).startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME} - {tokens} tokens, ")
        assert "tok/s" in status(app) and status(app).endswith("stopped")
        assert screen.query_one("#chat-log").last_bubble().label.endswith("(stopped)")
        # the next question follows the stopped answer: the model sees both turns
        fake_model.delay_s = 0
        fake_model.enqueue("ok")
        await type_and_send(pilot, "go on")
        await answered(pilot, screen)
        assert [m["role"] for m in fake_model.calls[-1]["messages"]] == ["user", "assistant", "user"]
        assert fake_model.calls[-1]["messages"][1]["content"] == answer


async def test_an_answer_keeps_streaming_on_another_screen_and_the_header_says_so(fake_model):
    fake_model.delay_s = 0.05
    fake_model.enqueue("one two three four five six seven eight nine ten " * 5)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "count")
        await wait_for(pilot, lambda: fake_model.chunks_streamed > 2, what="the answer streaming")
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "models")
        assert app.sub_title == AWAY_MARKER and screen.busy
        fake_model.delay_s = 0  # the rest comes at once, while the models screen is shown
        await wait_for(pilot, lambda: not screen.busy, what="the answer ending away from the chat")
        assert app.sub_title == ""
        assert any("answer is complete" in n.message for n in app._notifications)
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.screen is screen)
        reply = "one two three four five six seven eight nine ten " * 5
        assert transcript(screen)[-1] == ("assistant", reply)
        assert [(m.role, m.stopped) for m in sessions.messages(screen.session_id)] == [
            ("user", False),
            ("assistant", False),
        ]
    from llmdeck.tui.screens.help import HelpScreen

    assert "leaving the screen keeps it streaming (the header says so)" in HelpScreen().help_text()


async def test_a_message_sent_while_an_adapter_is_applied_waits_and_lands_in_the_new_chat(
    fake_model, monkeypatch, tmp_path
):
    import threading

    from llmdeck.services import chat as service
    from llmdeck.tuning.registry import Registry

    run = Registry().create("tuned-run", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
    Registry().update(run.id, status="completed")
    converting = threading.Event()

    def resolve(model, adapter):  # the app's conversion step blocks until the test lets it end
        if adapter and not model:
            converting.wait(30)
        return ModelStore().resolve(model), str(tmp_path / "adapter.gguf") if adapter else None

    monkeypatch.setattr(service, "resolve_model", resolve)
    fake_model.enqueue("first answer", "answered with the adapter")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "before")
        await answered(pilot, screen)
        before = screen.session_id
        screen.chat_with_run(run.id)
        await type_and_send(pilot, "Who are you?")
        assert screen.held == "Who are you?" and len(fake_model.calls) == 1  # held, not sent to the old session
        assert "your message is sent when it ends" in status(app)
        converting.set()
        await wait_for(pilot, lambda: screen.adapter == run.id and not screen.busy and screen.held is None)
        await answered(pilot, screen)
        assert screen.session_id != before
        assert [(m.role, m.content) for m in sessions.messages(screen.session_id)] == [
            ("user", "Who are you?"),
            ("assistant", "answered with the adapter"),
        ]
        assert [m.content for m in sessions.messages(before)] == ["before", "first answer"]
        assert sessions.get_session(screen.session_id).options["adapter"] == run.id
        assert transcript(screen)[-2:] == [("user", "Who are you?"), ("assistant", "answered with the adapter")]
        bubble = screen.query_one("#chat-log").last_bubble()
        assert bubble.label == f"{EMBEDDED_CHAT_MODEL_NAME} + adapter of run tuned-run"


async def test_a_message_held_during_a_failed_switch_goes_back_to_the_prompt(fake_model, monkeypatch):
    from llmdeck.core.errors import NotFound
    from llmdeck.services import chat as service

    def resolve(model, adapter):
        raise NotFound("run ghost not found")

    monkeypatch.setattr(service, "resolve_model", resolve)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.switches["adapter"] = "applying the adapter of run ghost"  # as chat_with_run marks it
        await type_and_send(pilot, "still there?")
        assert screen.held == "still there?"
        screen.apply_adapter("ghost")
        await wait_for(pilot, lambda: screen.held is None)
        assert screen.query_one("#prompt").value == "still there?" and not fake_model.calls
        assert any("was not sent" in n.message for n in app._notifications)


@pytest.mark.slow  # Pilot-heavy: the fast tier keeps one test per flow
async def test_regenerate_and_edit_the_last_message(fake_model):
    fake_model.enqueue("first", "second", "edited answer")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "helo")
        await answered(pilot, screen)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(fake_model.calls) == 2)
        await answered(pilot, screen)
        assert transcript(screen) == [("user", "helo"), ("assistant", "second")]
        await pilot.press("ctrl+t")
        prompt = screen.query_one("#prompt")
        assert prompt.value == "helo" and "editing" in status(app)
        await pilot.press("end", "backspace", "backspace", *"llo", "enter")
        await wait_for(pilot, lambda: len(fake_model.calls) == 3)
        await answered(pilot, screen)
        assert transcript(screen) == [("user", "hello"), ("assistant", "edited answer")]
        assert [(m.role, m.content) for m in sessions.messages(screen.session_id)] == [
            ("user", "hello"),
            ("assistant", "edited answer"),
        ]


@pytest.mark.slow  # Pilot-heavy: the fast tier keeps one test per flow
async def test_options_are_kept_with_the_session_and_sent(fake_model):
    fake_model.enqueue("a", "b")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+o")
        dialog = app.screen
        dialog.query_one("#options-system").text = "Answer like a pirate."
        dialog.query_one("#options-temperature").value = "0.2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.options.get("system") == "Answer like a pirate.")
        await type_and_send(pilot, "hi")
        await answered(pilot, screen)
        call = fake_model.calls[-1]
        assert call["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
        assert call["temperature"] == 0.2
        assert sessions.get_session(screen.session_id).options["system"] == "Answer like a pirate."
        # a bad value is refused with the field named, nothing saved
        await pilot.press("ctrl+o")
        app.screen.query_one("#options-top_p").value = "7"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("--top-p" in n.message for n in app._notifications))
        assert sessions.get_session(screen.session_id).options["top_p"] == 0.95  # not 7


@pytest.mark.slow  # Pilot-heavy: the fast tier keeps one test per flow
async def test_sessions_resume_rename_export_and_delete(fake_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_model.enqueue("Paris, I think.", "Blue.")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "capital of France?")
        await answered(pilot, screen)
        first = screen.session_id
        await pilot.press("ctrl+n")
        assert transcript(screen) == [] and screen.session_id is None
        await type_and_send(pilot, "sky colour?")
        await answered(pilot, screen)
        await wait_for(pilot, lambda: len(screen.query(SessionItem)) == 2)
        await pilot.pause(0.2)  # the list's handler finishes (it resets the highlight after mounting items)
        # resume the first conversation from the sidebar
        listing = screen.query_one("#session-list")
        listing.focus()
        listing.index = [item.session_id for item in screen.query(SessionItem)].index(first)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.session_id == first and len(transcript(screen)) == 2)
        assert transcript(screen)[0] == ("user", "capital of France?")
        # prompt history: up recalls this session's question
        await pilot.click("#prompt")
        await pilot.press("up")
        assert screen.query_one("#prompt").value == "capital of France?"
        listing.focus()
        await pilot.press("r")
        app.screen.query_one("#text-prompt-input").value = "Geography"
        await pilot.press("enter")
        await wait_for(pilot, lambda: sessions.get_session(first).title == "Geography")
        await pilot.press("e")
        await pilot.press("enter")
        exported = tmp_path / f"{first}.md"
        await wait_for(pilot, lambda: exported.exists())
        assert exported.read_text().startswith("# Geography")
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: sessions.find_session(first) is None)
        await wait_for(pilot, lambda: len(screen.query(SessionItem)) == 1 and screen.session_id is None)


@pytest.mark.slow  # Pilot-heavy: the fast tier keeps one test per flow
async def test_copy_the_answer_and_its_code_block(fake_model):
    fake_model.enqueue(["Use this:\n\n```python\nprint('hi')\n```\n"])
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_and_send(pilot, "code please")
        await answered(pilot, screen)
        await pilot.press("ctrl+y")
        assert app.clipboard.startswith("Use this:")
        await pilot.press("ctrl+b")
        assert app.clipboard == "print('hi')"
        bubble = screen.query_one("#chat-log").last_bubble("user")
        bubble.focus()
        await pilot.press("c")
        assert app.clipboard == "code please"


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_quit_during_a_long_answer_ends_its_generation(fake_model):
    from llmdeck.testing.fake_model import fake_tokens

    reply = "word " * 2000
    fake_model.delay_s = 0.05
    fake_model.enqueue(reply)  # ~200 s if it ran to the end
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await type_and_send(pilot, "talk")
        await wait_for(pilot, lambda: fake_model.chunks_streamed > 0, what="the answer streaming")
        assert app.screen.busy
        await pilot.press("ctrl+q")
    # the app is gone and so is the generation (a thread left running would keep the process alive)
    deadline = time.monotonic() + 30
    while fake_model.active_streams and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert fake_model.active_streams == 0 and fake_model.chunks_streamed < len(fake_tokens(reply)) // 2


async def test_a_failing_worker_becomes_a_notification_not_a_crash(fake_model):
    app = LlmdeckApp(model="no-such-model")
    async with app.run_test(size=SIZE) as pilot:
        # the status line and the notification are two updates: wait for both (under load they land apart)
        await wait_for(pilot, lambda: "failed" in status(app) and any(app._notifications), what="the failure shown")
        assert app.screen.model_name is None
        assert any("no-such-model" in n.message for n in app._notifications), [n.message for n in app._notifications]


@pytest.mark.slow
async def test_real_model_answers_and_the_session_resumes_after_a_restart():
    update_settings(max_tokens=16, temperature=0.0)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert status(app) == f"model: {EMBEDDED_CHAT_MODEL_NAME}"
        await type_and_send(pilot, "What is 2 + 2?")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app), timeout_s=120)
        first = transcript(screen)
        assert [role for role, _ in first] == ["user", "assistant"] and first[1][1].strip()
        session_id = screen.session_id
    assert len(sessions.messages(session_id)) == 2
    app = LlmdeckApp()  # a new app: the session is in the sidebar and resumes with its transcript
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: len(screen.query(SessionItem)) == 1, what="the sessions list")
        await pilot.pause(0.2)  # the list's handler finishes (it resets the highlight after mounting items)
        screen.query_one("#session-list").focus()
        screen.query_one("#session-list").index = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.session_id == session_id, what="the resumed session")
        assert transcript(screen) == first, (transcript(screen), first)
        await type_and_send(pilot, "And 3 + 3?")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app), timeout_s=120)
        assert len(sessions.messages(session_id)) == 4


@pytest.mark.slow
async def test_a_collection_ingested_from_the_chat_screen_answers_with_sources(tmp_path):
    update_settings(max_tokens=24, temperature=0.0)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcanoes.md").write_text("# Volcanoes\n\nMount Etna is an active volcano on Sicily. It erupts often.\n")
    (docs / "rivers.md").write_text("# Rivers\n\nThe Danube flows through ten countries into the Black Sea.\n")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+l")
        dialog = app.screen
        dialog.query_one("#ingest-paths").value = str(docs)
        dialog.query_one("#ingest-collection").value = "geo"
        await pilot.click("#ingest-start")
        await wait_for(
            pilot,
            lambda: screen.collection == "geo" and "geo" in screen.query_one("#chat-pickers").collections,
            timeout_s=180,
            what="the ingest",
        )
        assert screen.query_one("#rag-select").value == "geo"
        await type_and_send(pilot, "Where is Mount Etna?")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app), timeout_s=180)
        sources = screen.query("SourceItem")
        assert screen.query_one("#sources-pane").display and len(sources) >= 1
        assert any(item.source["source"].endswith("volcanoes.md") for item in sources)
        first = sources.first().source
        screen.query_one("#sources-list").focus()
        screen.query_one("#sources-list").index = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SourceScreen")
        last_line = [line.strip() for line in first["text"].splitlines() if line.strip()][-1]
        assert last_line[:40] in screen_text(app)  # the chunk's own text, in full
        stored = sessions.messages(screen.session_id)
        assert stored[-1].sources and sessions.get_session(screen.session_id).rag_collection == "geo"


@pytest.mark.slow  # real embeddings: three batches of chunks
async def test_esc_during_an_ingest_cancels_it_and_rolls_it_back(tmp_path):
    from llmdeck.rag.query import list_collections

    docs = tmp_path / "docs"
    docs.mkdir()
    for index in range(600):  # one chunk each: batches of 256, so the cancel lands between two batches
        (docs / f"note-{index:03}.md").write_text(f"# Note {index}\n\nThe number {index} is written here.\n")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+l")
        dialog = app.screen
        dialog.query_one("#ingest-paths").value = str(docs)
        dialog.query_one("#ingest-collection").value = "many"
        await pilot.click("#ingest-start")
        await wait_for(
            pilot,
            lambda: str(dialog.query_one("#ingest-status").render()).startswith("embedding 256/"),
            timeout_s=180,
            what="the first batch",
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, timeout_s=120, what="the cancelled dialog to close")
        assert any(n.title == "ingest into many cancelled" for n in app._notifications)
        assert "many" not in [c.name for c in list_collections()]  # the first batch was rolled back with it
        assert screen.collection != "many"


async def test_a_runs_adapter_is_applied_named_remembered_and_dropped(fake_model, monkeypatch, tmp_path):
    """The plumbing on the fake model (the train screen's `t` calls `chat_with_run`; converting a real LoRA and
    answering with it is tests/tui/test_train_screen.py's slow test)."""
    from llmdeck.services import chat as service
    from llmdeck.tuning.registry import Registry

    run = Registry().create("tuned-run", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
    Registry().update(run.id, status="completed")
    asked = []

    def resolve(model, adapter):  # the run's base and its LoRA file
        asked.append((model, adapter))
        return ModelStore().resolve(model), str(tmp_path / "adapter.gguf") if adapter else None

    monkeypatch.setattr(service, "resolve_model", resolve)
    fake_model.enqueue("I am the tuned run.", "Plain again.")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.chat_with_run(run.id)
        await wait_for(pilot, lambda: screen.adapter == run.id)
        assert status(app) == f"model: {EMBEDDED_CHAT_MODEL_NAME} + adapter of run tuned-run"
        assert screen.sub_title == f"{EMBEDDED_CHAT_MODEL_NAME} + adapter of run tuned-run"  # the header's line
        assert transcript(screen) == [
            ("note", f"chatting with run tuned-run: its LoRA applied to {EMBEDDED_CHAT_MODEL_NAME}")
        ]
        await type_and_send(pilot, "Who are you?")
        await answered(pilot, screen)
        assert status(app).startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME} + adapter of run tuned-run - ")
        assert asked[-1] == (EMBEDDED_CHAT_MODEL_NAME, run.id)  # the answer came with the run's adapter
        assert sessions.get_session(screen.session_id).options["adapter"] == run.id
        with_adapter = screen.session_id
        # a new chat, then the palette's "Chat without the run's adapter": answered by the bare model
        await pilot.press("ctrl+n")
        await app.run_on_screen("chat", "drop_adapter")
        assert status(app) == f"model: {EMBEDDED_CHAT_MODEL_NAME}" and screen.adapter is None
        assert screen.sub_title == EMBEDDED_CHAT_MODEL_NAME
        await type_and_send(pilot, "And now?")
        await answered(pilot, screen)
        assert asked[-1] == (EMBEDDED_CHAT_MODEL_NAME, None)
        assert transcript(screen)[-1] == ("assistant", "Plain again.")
        # resuming the first session brings its adapter back
        screen.load_session(with_adapter)
        await wait_for(pilot, lambda: screen.session_id == with_adapter and screen.adapter == run.id)
        assert status(app).startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME} + adapter of run tuned-run - session ")
