"""Drive the real app: type a prompt, the worker streams a real llama.cpp answer into the transcript."""

from __future__ import annotations

from core.settings import update_settings
from tui.app import LlmdeckApp
from tui.screens.chat import ChatScreen
from tui.widgets.chat_log import ChatBubble


async def test_chat_screen_streams_an_answer_from_the_embedded_model():
    update_settings(max_tokens=16, temperature=0.0)
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, ChatScreen)
        await pilot.click("#prompt")
        for key in "Say hi":
            await pilot.press(key if key != " " else "space")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        bubbles = list(app.screen.query(ChatBubble))
        assert [b.role for b in bubbles] == ["user", "assistant"]
        assert bubbles[0].text == "Say hi"
        assert len(bubbles[1].text.strip()) > 0
        status = str(app.screen.query_one("#chat-status").render())
        assert "tok/s" in status and ".gguf" in status
        assert len(app.screen.history) == 2


async def test_chat_screen_shows_an_error_for_an_unknown_model_without_crashing():
    app = LlmdeckApp(model="no-such-model")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.click("#prompt")
        await pilot.press("h", "i", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "failed" in str(app.screen.query_one("#chat-status").render())
        assert app.screen.pending_prompt is None
        assert [b.role for b in app.screen.query(ChatBubble)] == ["user"]


async def test_models_screen_lists_the_embedded_model_and_sets_default():
    app = LlmdeckApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f2")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#models-table")
        assert table.row_count == 1
        assert "smollm2-135m-instruct" in [str(c) for c in table.get_row_at(0)]
        await pilot.press("d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert table.get_row_at(0)[0] == "*"
