"""The chat screen's sources pane: the chunks the last RAG answer cited, hidden when it cited none; choosing
one posts `SourceChosen` (the screen opens it in full)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, ListItem, ListView


class SourceItem(ListItem):
    def __init__(self, source: dict):
        cited = source.get("citation") or source.get("source")  # sessions from before citations: the path
        super().__init__(Label(f"[{source.get('n')}] {cited} #{source.get('chunk')}", markup=False))
        self.source = source


class SourcesPane(Vertical):
    @dataclass
    class SourceChosen(Message):
        source: dict

    def compose(self) -> ComposeResult:
        yield Label("Sources (Enter opens)", classes="pane-title")
        yield ListView(id="sources-list")

    def on_mount(self) -> None:
        self.display = False

    async def show(self, sources: list[dict]) -> None:
        self.display = bool(sources)
        listing = self.query_one("#sources-list", ListView)
        await listing.clear()
        await listing.extend([SourceItem(s) for s in sources])

    @on(ListView.Selected, "#sources-list")
    def chosen(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, SourceItem):
            self.post_message(self.SourceChosen(event.item.source))
