"""The app's chat says when its model has no chat template, and answers in completion mode."""

from __future__ import annotations

import dataclasses

from llmdeck.core.store import ModelStore
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tui.widgets.chat_log import ChatBubble
from tests.tui.test_chat_screen import status, type_and_send, wait_for


async def test_a_template_less_model_chats_in_completion_mode(fake_model, monkeypatch):
    real_resolve = ModelStore.resolve
    monkeypatch.setattr(
        ModelStore,
        "resolve",
        lambda self, name=None, pull=True: dataclasses.replace(real_resolve(self, name), has_chat_template=False),
    )
    fake_model.enqueue([" was", " a fox."])
    app = LlmdeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.model_name is not None)
        assert "no chat template: completion mode" in status(app)
        await type_and_send(pilot, "Once there")
        await wait_for(pilot, lambda: not screen.busy and "tok/s" in status(app))
        assert [b.text for b in screen.query(ChatBubble)] == ["Once there", " was a fox."]
        assert fake_model.completion_calls[0]["prompt"] == "Once there\n"
