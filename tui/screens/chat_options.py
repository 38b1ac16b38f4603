"""A session's system prompt and sampling (temperature, top_p, max_tokens): ctrl+s saves, Esc cancels.

The values are checked where they are saved (services.chat.set_session_options), not here.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from llmdeck.tui.widgets.field_input import FieldInput

SAMPLING_FIELDS = (
    ("temperature", "Temperature (0 = greedy)"),
    ("top_p", "Top-p (0-1]"),
    ("max_tokens", "Max tokens per answer"),
)


class ChatOptionsScreen(ModalScreen[dict | None]):
    BINDINGS = [Binding("ctrl+s", "save", "Save"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, options: dict):
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static("This chat's system prompt and sampling (kept with the session)", classes="dialog-title")
            yield Label("System prompt")
            yield TextArea(self.options.get("system") or "", id="options-system")
            for name, label in SAMPLING_FIELDS:
                yield Label(label)
                value = self.options.get(name)
                yield FieldInput("" if value is None else str(value), id=f"options-{name}")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (Esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_save(self) -> None:
        values: dict = {"system": self.query_one("#options-system", TextArea).text}
        for name, _ in SAMPLING_FIELDS:
            text = self.query_one(f"#options-{name}", Input).value.strip()
            try:
                values[name] = (int(text) if name == "max_tokens" else float(text)) if text else None
            except ValueError:
                self.notify(f"{name}: expected a number, got {text!r}", severity="error")
                return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
