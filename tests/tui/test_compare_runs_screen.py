"""The compare screen (m on the train screen) with the Pilot: `runs diff`'s fields side by side, the differing
ones marked and highlighted, d toggling to only those (fast: runs recorded without training, on a bare host)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from llmdeck.tui import app as app_module
from llmdeck.tui.screens.compare_runs import DIFFERS, CompareRunsScreen
from llmdeck.tuning.registry import Registry
from tests.tui.helpers import text_of, wait_for


class Host(App):
    CSS_PATH = Path(app_module.__file__).parent / "app.tcss"

    def __init__(self, screen) -> None:
        super().__init__()
        self.compare = screen

    def on_mount(self) -> None:
        self.push_screen(self.compare)


def two_runs() -> tuple[str, str]:
    registry = Registry()
    ids = []
    for name, rate in (("slow-lr", 1e-4), ("fast-lr", 3e-4)):
        run = registry.create(name, "sft", "smollm2-135m-instruct", "sample", {"learning_rate": rate}, "local")
        registry.update(run.id, status="completed", last_metrics={"loss": 1.0})
        ids.append(run.id)
    return ids[0], ids[1]


def cells(table) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_every_field_side_by_side_then_only_the_differences():
    first, second = two_runs()
    screen = CompareRunsScreen(first, second)
    async with Host(screen).run_test(size=(120, 44)) as pilot:
        table = screen.query_one("#compare-diff")
        await wait_for(pilot, lambda: table.row_count > 1)
        rows = cells(table)
        assert ["", "run", "method", "sft", "sft"] in rows
        assert ["", "data", "sha256", "not recorded", "not recorded"] in rows  # launched before data records
        assert ["", "metrics", "loss", "1", "1"] in rows
        assert [row for row in rows if row[0] == "*"] == [["*", "config", "learning_rate", "0.0001", "0.0003"]]
        marked = next(i for i, row in enumerate(rows) if row[0] == "*")
        assert table.get_row_at(marked)[2].style == DIFFERS and table.get_row_at(0)[2].style == ""
        assert text_of(screen.query_one("#compare-title")).endswith(f"(1 of {len(rows)} fields differ)")
        await pilot.press("d")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert cells(table) == [["*", "config", "learning_rate", "0.0001", "0.0003"]]
        await pilot.press("d")
        await wait_for(pilot, lambda: table.row_count == len(rows))


def test_the_help_lists_the_compare_screen_and_its_keys():
    from llmdeck.tui.screens.help import HelpScreen

    text = HelpScreen().help_text()
    assert "### CompareRuns (m on the Train screen)" in text
    assert "| d | Only differences / all fields |" in text
