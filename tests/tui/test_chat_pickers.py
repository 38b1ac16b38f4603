"""The chat's pickers mount their Selects a frame after the first one: what the screen offers or selects before
then is applied when they mount, quietly (no ModelPicked/CollectionPicked)."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Select

from llmdeck.tui.widgets.chat_pickers import ChatPickers


class Pickers(App):
    def __init__(self) -> None:
        super().__init__()
        self.picked: list[object] = []
        self.seen_before_mount: list[int] = []

    def compose(self):
        yield ChatPickers(id="chat-pickers")

    def on_mount(self) -> None:
        pickers = self.query_one(ChatPickers)
        self.seen_before_mount.append(len(pickers.query(Select)))
        pickers.offer_models(["a", "b"], "b")
        pickers.offer_collections(["geo"], None)
        pickers.select_collection("geo")
        pickers.open_model_picker()  # no Select yet: nothing to open, and no error

    def on_chat_pickers_model_picked(self, message: ChatPickers.ModelPicked) -> None:
        self.picked.append(message)

    def on_chat_pickers_collection_picked(self, message: ChatPickers.CollectionPicked) -> None:
        self.picked.append(message)


async def test_offers_made_before_the_selects_mount_are_applied_quietly_when_they_do():
    app = Pickers()
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        assert app.seen_before_mount == [0]
        model = app.query_one("#model-select", Select)
        collection = app.query_one("#rag-select", Select)
        assert model.value == "b" and collection.value == "geo"
        assert [value for _, value in model._options if value is not Select.NULL] == ["a", "b"]
        app.query_one(ChatPickers).select_model("nope")  # not offered: the picker is cleared
        await pilot.pause()
        assert model.value is Select.NULL
        assert app.picked == []
