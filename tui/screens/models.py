"""The models screen: the GGUF store as a table; Enter makes the highlighted model the default."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from tui.messages import ModelsLoaded, WorkFailed

COLUMNS = ("default", "name", "arch", "params", "quant", "ctx", "size")


class ModelsScreen(Screen):
    BINDINGS = [Binding("d", "make_default", "Make default"), Binding("r", "refresh", "Refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="models-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_models()

    @work(thread=True, exclusive=True, exit_on_error=False, group="models")
    def load_models(self, make_default: str | None = None) -> None:
        from core.store import ModelStore

        try:
            store = ModelStore()
            if make_default:
                store.set_default(make_default)
            self.post_message(ModelsLoaded(store.list()))
        except Exception as exc:
            self.post_message(WorkFailed("models", str(exc)))

    @on(ModelsLoaded)
    def show_models(self, message: ModelsLoaded) -> None:
        from tui.output import human_count, human_size

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
            self.load_models(make_default=row_key.value)

    @on(WorkFailed)
    def show_failure(self, message: WorkFailed) -> None:
        self.notify(message.error, title=f"{message.action} failed", severity="error")
