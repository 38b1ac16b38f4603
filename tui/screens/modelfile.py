"""A store model's Ollama Modelfile (built by `llmdeck.core.interop.modelfile`, as `llmdeck models modelfile`):
ctrl+s saves it to a file, ctrl+y copies it, Esc closes."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from llmdeck.tui.screens.base import ask


class ModelfileScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save as..."),
        Binding("ctrl+y", "copy", "Copy"),
        Binding("escape,q", "app.pop_screen", "Close"),
    ]

    def __init__(self, model: str, text: str):
        super().__init__()
        self.model, self.text = model, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static(
                f"Ollama Modelfile of {self.model}  (ctrl+s save, ctrl+y copy, Esc close)",
                classes="dialog-title",
                markup=False,
            )
            with VerticalScroll():
                yield Static(self.text, id="modelfile-text", markup=False)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("Modelfile copied to the clipboard")

    def action_save(self) -> None:
        from llmdeck.tui.screens.text_prompt import TextPromptScreen

        ask(
            self.app,
            TextPromptScreen("Save the Modelfile as", "Modelfile"),
            lambda path: self.save(Path(path).expanduser()),
        )

    @work(thread=True, exit_on_error=False, group="save modelfile")
    def save(self, target: Path) -> None:
        from llmdeck.core.atomic import atomic_write_text

        atomic_write_text(target, self.text)
        self.app.call_from_thread(
            self.notify, f"wrote {target.resolve()}: ollama create {self.model} -f {target}", title="Modelfile saved"
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(str(event.worker.error), title="could not save the Modelfile", severity="error")
