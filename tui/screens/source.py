"""One cited chunk of a RAG answer, in full (Esc closes)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class SourceScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close"), Binding("c", "copy", "Copy text")]

    def __init__(self, source: dict):
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        s = self.source
        heading = f"[{s.get('n')}] {s.get('source')}  chunk {s.get('chunk')}  score {s.get('score')}"
        with Vertical(classes="dialog tall"):
            yield Static(heading, classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(
                    s.get("text") or "(the chunk's text was not recorded with this answer)",
                    id="source-text",
                    markup=False,
                )

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.source.get("text") or "")
        self.notify("chunk copied to the clipboard")
