"""Drive the real app with the Pilot: the chat screen streams answers through services.chat in a worker."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmdeck.core import sessions
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.settings import update_settings
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tui.screens.chat import ChatScreen
from llmdeck.tui.widgets.chat_log import ChatBubble


async def type_and_send(pilot, text: str) -> None:
    await pilot.click("#prompt")
    await pilot.press(*[key if key != " " else "space" for key in text], "enter")


async def wait_for(pilot, predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.05)


def status(app) -> str:
    return str(app.screen.query_one("#chat-status").render())


async def test_header_names_the_model_and_answers_stream_into_a_stored_session(fake_model):
    fake_model.enqueue(["Hello", " Ada", "!"])
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_for(pilot, lambda: screen.model_name is not None)
        assert status(app) == f"model: {EMBEDDED_CHAT_MODEL_NAME}"
        await type_and_send(pilot, "I am Ada")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app))
        bubbles = list(screen.query(ChatBubble))
        assert [(b.role, b.text) for b in bubbles] == [("user", "I am Ada"), ("assistant", "Hello Ada!")]
        assert status(app).startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME} - 4 tokens")
        stored = sessions.messages(screen.session_id)
        assert [(m.role, m.content) for m in stored] == [("user", "I am Ada"), ("assistant", "Hello Ada!")]


async def test_the_chat_keeps_its_model_when_the_default_changes(fake_model, copied_gguf):
    from llmdeck.core.store import ModelStore

    ModelStore().register(copied_gguf, name="other")
    fake_model.enqueue("one", "two")
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.model_name is not None)
        await type_and_send(pilot, "hi")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app))
        ModelStore().set_default("other")
        await type_and_send(pilot, "again")
        await wait_for(pilot, lambda: len(fake_model.calls) == 2 and not screen.busy and "tok/s" in status(app))
        assert screen.model_name == EMBEDDED_CHAT_MODEL_NAME
        assert status(app).startswith(f"model: {EMBEDDED_CHAT_MODEL_NAME}")


async def test_escape_stops_an_answer_and_keeps_the_question(fake_model):
    fake_model.delay_s = 0.05
    fake_model.enqueue("word " * 400)
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.model_name is not None)
        await type_and_send(pilot, "talk")
        await wait_for(pilot, lambda: len(screen.query_one("#chat-log").last_bubble().text) > 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.busy)
        assert "stopped" in status(app)
        assert [m.role for m in sessions.messages(screen.session_id)] == ["user"]


async def test_quit_one_second_into_a_long_answer_returns_within_two_seconds(fake_model):
    fake_model.delay_s = 0.05
    fake_model.enqueue("word " * 2000)  # ~200 s if it ran to the end
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.model_name is not None)
        await type_and_send(pilot, "talk")
        await asyncio.sleep(1.0)
        assert app.screen.busy
        started = time.monotonic()
        await pilot.press("ctrl+q")
    # the app is gone and so is the generation (a thread left running would keep the process alive)
    while fake_model.active_streams and time.monotonic() - started < 5:
        await asyncio.sleep(0.02)
    assert fake_model.active_streams == 0 and time.monotonic() - started < 2.0


async def test_a_failing_worker_becomes_a_notification_not_a_crash(fake_model):
    app = LlmdeckApp(model="no-such-model")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "failed" in status(app))
        assert app.screen.model_name is None
        assert any("no-such-model" in n.message for n in app._notifications)


async def test_models_screen_lists_the_embedded_model_and_sets_default(fake_model):
    app = LlmdeckApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f2")
        table = app.screen.query_one("#models-table")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert EMBEDDED_CHAT_MODEL_NAME in [str(c) for c in table.get_row_at(0)]
        update_settings(default_model=None)
        await pilot.press("d")
        await wait_for(pilot, lambda: table.get_row_at(0)[0] == "*")


@pytest.mark.slow
async def test_real_model_answers_on_the_chat_screen():
    update_settings(max_tokens=16, temperature=0.0)
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.model_name is not None)
        await type_and_send(pilot, "Say hi")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app), timeout_s=60)
        bubbles = list(screen.query(ChatBubble))
        assert [b.role for b in bubbles] == ["user", "assistant"] and bubbles[1].text.strip()
        assert len(sessions.messages(screen.session_id)) == 2
