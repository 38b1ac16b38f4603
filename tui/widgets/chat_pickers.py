"""The chat screen's two pickers: the chat's model and its RAG collection. Filled from the store and the
collections off the UI thread; a value set by the screen (a resumed session, a run's base) is set quietly, and
only a person's choice is posted (`ModelPicked`, `CollectionPicked`).

The two Selects are mounted just after the screen's first frame (their row is kept by `min-height` in app.tcss,
so nothing moves): each is a current-value widget and an overlay OptionList, ~25 ms of the first frame's work on
2 cores, and they are empty until the store is read anyway. What the screen offers or selects before then is
kept and applied when they mount."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
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
        self._ready = False  # the Selects are mounted
        self._wanted: dict[str, tuple[list[str] | None, str | None]] = {}  # selector: (options, value) meanwhile

    def on_mount(self) -> None:
        # no compose: the Selects come after the first frame (through the app: this widget's own
        # call_after_refresh, made while the screen is first mounted, ran before the first frame)
        self.app.call_after_refresh(self._mount_selects)

    async def _mount_selects(self) -> None:
        if not self.is_attached:
            return
        await self.mount(
            Select([], prompt="model", allow_blank=True, id="model-select"),
            Select([], prompt="no RAG collection", allow_blank=True, id="rag-select"),
        )
        self._ready = True
        for selector, (names, value) in self._wanted.items():
            if names is not None:
                self._offer(selector, names, value)
            else:
                self._select_quietly(selector, value)
        self._wanted.clear()

    def offer_models(self, names: list[str], selected: str | None) -> None:
        self.models = set(names)
        self._offer("#model-select", names, selected)

    def offer_collections(self, names: list[str], selected: str | None) -> None:
        self.collections = set(names)
        self._offer("#rag-select", names, selected)

    def select_model(self, name: str | None) -> None:
        self._select_quietly("#model-select", name)

    def select_collection(self, name: str | None) -> None:
        self._select_quietly("#rag-select", name)

    def _offer(self, selector: str, names: list[str], selected: str | None) -> None:
        if not self._ready:
            self._wanted[selector] = (list(names), selected)
            return
        picker = self.query_one(selector, Select)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in names])
        self._select_quietly(selector, selected)

    def _select_quietly(self, selector: str, value: str | None) -> None:
        if not self._ready:
            names, _ = self._wanted.get(selector, (None, None))
            self._wanted[selector] = (names, value)
            return
        known = self.models if selector == "#model-select" else self.collections
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
        if self._ready:  # else a key pressed within the first frame or two: the pickers are not shown yet
            self.query_one("#model-select", Select).action_show_overlay()

    def open_collection_picker(self) -> None:
        if self._ready:
            self.query_one("#rag-select", Select).action_show_overlay()
