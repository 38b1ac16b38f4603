from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from llmdeck.tui.widgets.tables import fill


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield DataTable()


async def test_fill_sizes_each_column_to_its_widest_cell_before_any_refresh():
    async with TableApp().run_test() as pilot:
        table = pilot.app.query_one(DataTable)
        table.add_columns("old", "columns", "go")
        rows = [("dense", "0.500 [0.09, 0.91]", Text("x")), ("hybrid+rerank", "-", Text("wide cell", style="red"))]
        fill(table, ("mode", "recall@1", "a long label"), rows)
        # no pause: the widths hold in the same frame as the rows
        assert [str(c.label) for c in table.ordered_columns] == ["mode", "recall@1", "a long label"]
        assert [c.width for c in table.ordered_columns] == [13, 18, 12]
        assert not any(c.auto_width for c in table.ordered_columns)
        assert table.row_count == 2
        fill(table, ("mode",), [])  # no rows: the labels' widths
        assert [c.width for c in table.ordered_columns] == [4]
        assert table.row_count == 0


async def test_fill_keeps_row_and_column_keys_for_updates_and_cursor_moves():
    async with TableApp().run_test() as pilot:
        table = pilot.app.query_one(DataTable)
        fill(
            table,
            ("Name", "Status"),
            [("a", "ok"), ("b", "failed")],
            keys=["run-a", "run-b"],
            column_keys=["name", "status"],
        )
        assert table.get_row_index("run-b") == 1
        table.update_cell("run-a", "status", "stopped")
        assert table.get_row("run-a") == ["a", "stopped"]
