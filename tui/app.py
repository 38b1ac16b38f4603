"""The Textual app: global bindings and the screen registry."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from llmdeck.tui.screens.chat import ChatScreen
from llmdeck.tui.screens.models import ModelsScreen


class LlmdeckApp(App):
    """llmdeck's terminal workbench."""

    CSS_PATH = "app.tcss"
    TITLE = "llmdeck"
    BINDINGS = [
        Binding("f1", "switch_mode('chat')", "Chat"),
        Binding("f2", "switch_mode('models')", "Models"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    MODES = {"chat": ChatScreen, "models": ModelsScreen}

    def __init__(self, model: str | None = None):
        super().__init__()
        self.model_name = model  # the chat's model; None: the store default when the chat opens

    def on_mount(self) -> None:
        self.switch_mode("chat")
