"""The prompt box: an Input with a history of earlier prompts on up/down (like a shell)."""

from __future__ import annotations

from textual.binding import Binding

from llmdeck.tui.widgets.field_input import FieldInput


class PromptInput(FieldInput):
    BINDINGS = [
        Binding("up", "history(-1)", "Previous prompt", show=False),
        Binding("down", "history(1)", "Next prompt", show=False),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.history: list[str] = []
        self._position = 0  # len(history): the line being typed
        self._draft = ""

    def remember(self, prompt: str) -> None:
        if prompt and (not self.history or self.history[-1] != prompt):
            self.history.append(prompt)
        self._position = len(self.history)

    def set_history(self, prompts: list[str]) -> None:
        self.history = list(prompts)
        self._position = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = self._draft if self._position == len(self.history) else self.history[self._position]
        self.cursor_position = len(self.value)
