"""The chat screen's two pickers: the chat's model and its RAG collection. Filled from the store and the
collections off the UI thread; a value set by the screen (a resumed session, a run's base) is set quietly, and
only a person's choice is posted (`ModelPicked`, `CollectionPicked`)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Select


class ChatPickers(Horizontal):
    """`models` and `collections` are the names each picker offers."""

    @dataclass
    class ModelPicked(Message):
        name: str

    @dataclass
    class CollectionPicked(Message):
        name: str | None  # None: RAG off

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.models: set[str] = set()
        self.collections: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Select([], prompt="model", allow_blank=True, id="model-select")
        yield Select([], prompt="no RAG collection", allow_blank=True, id="rag-select")

    def offer_models(self, names: list[str], selected: str | None) -> None:
        self.models = set(names)
        self._offer("#model-select", names, selected, self.models)

    def offer_collections(self, names: list[str], selected: str | None) -> None:
        self.collections = set(names)
        self._offer("#rag-select", names, selected, self.collections)

    def select_model(self, name: str | None) -> None:
        self._select_quietly("#model-select", name, self.models)

    def select_collection(self, name: str | None) -> None:
        self._select_quietly("#rag-select", name, self.collections)

    def _offer(self, selector: str, names: list[str], selected: str | None, known: set[str]) -> None:
        picker = self.query_one(selector, Select)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in names])
        self._select_quietly(selector, selected, known)

    def _select_quietly(self, selector: str, value: str | None, known: set[str]) -> None:
        picker = self.query_one(selector, Select)
        with picker.prevent(Select.Changed):
            picker.value = value if value in known else Select.NULL

    @on(Select.Changed, "#model-select")
    def model_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.NULL:
            self.post_message(self.ModelPicked(str(event.value)))

    @on(Select.Changed, "#rag-select")
    def collection_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.CollectionPicked(None if event.value is Select.NULL else str(event.value)))

    def open_model_picker(self) -> None:
        self.query_one("#model-select", Select).action_show_overlay()

    def open_collection_picker(self) -> None:
        self.query_one("#rag-select", Select).action_show_overlay()
