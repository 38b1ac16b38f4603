"""The models screen: the GGUF store as a table; `d` makes the highlighted model the default."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header

from llmdeck.core.units import human_count, human_size
from llmdeck.tui.screens.base import BaseScreen

COLUMNS = ("default", "name", "arch", "params", "quant", "ctx", "size")


class ModelsScreen(BaseScreen):
    BINDINGS = [Binding("d", "make_default", "Make default"), Binding("r", "refresh", "Refresh")]

    @dataclass
    class Loaded(Message):
        """The store's entries, read off the UI thread."""

        entries: list

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="models-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.action_refresh()

    def action_refresh(self) -> None:
        self.list_models()

    @work(thread=True, exclusive=True, exit_on_error=False, group="models")
    def list_models(self) -> None:
        from llmdeck.core.store import ModelStore

        self.post_message(self.Loaded(ModelStore().list()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="models")
    def set_default(self, name: str) -> None:
        from llmdeck.core.store import ModelStore

        store = ModelStore()
        store.set_default(name)
        self.post_message(self.Loaded(store.list()))

    @on(Loaded)
    def show_models(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for e in message.entries:
            table.add_row(
                "*" if e.is_default else "", e.name, e.architecture, human_count(e.parameter_count),
                e.file_type, str(e.context_length or "-"), human_size(e.size_bytes), key=e.name,
            )

    def action_make_default(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self.set_default(row_key.value)
