"""Two runs side by side: their loss curves overlaid (raw and smoothed), and `runs diff`'s table (run, config,
data hashes and rows, final metrics, evals) with the differing fields highlighted; d shows only those."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.services.run_diff import RunDiff

COLOURS = ("cyan", "magenta")
DIFFERS = "bold yellow"
CELL_WIDTH = 40


class CompareRunsScreen(ModalScreen[None]):
    """Two runs compared: loss curves overlaid, every recorded field side by side with the differences marked."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Close"),
        Binding("d", "toggle_differences", "Only differences / all fields"),
    ]

    @dataclass
    class Loaded(Message):
        runs: list  # [(run, metrics rows)] x 2
        diff: RunDiff

    def __init__(self, first_id: str, second_id: str):
        super().__init__()
        self.run_ids = (first_id, second_id)
        self.diff: RunDiff | None = None
        self.only_differences = False

    def compose(self) -> ComposeResult:
        from textual_plot import PlotWidget

        with Vertical(classes="dialog tall"):
            yield Static("comparing...", id="compare-title", classes="dialog-title", markup=False)
            yield PlotWidget(id="compare-plot", allow_pan_and_zoom=False)
            yield DataTable(id="compare-diff", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#compare-diff", DataTable).add_columns("", "section", "field", *self.run_ids)
        self.load(*self.run_ids)

    @work(thread=True, exit_on_error=False, group="compare")
    def load(self, first_id: str, second_id: str) -> None:
        from llmdeck.services.run_diff import diff_runs
        from llmdeck.tuning.runs import get, metrics

        runs = [(get(run_id), metrics(run_id)) for run_id in (first_id, second_id)]
        self.post_message(self.Loaded(runs, diff_runs(first_id, second_id)))

    @on(Loaded)
    def show(self, message: Loaded) -> None:
        from textual_plot import HiResMode, PlotWidget

        from llmdeck.tuning.monitor import series, smoothed

        plot = self.query_one("#compare-plot", PlotWidget)
        plot.set_xlabel("step")
        plot.set_ylabel("loss")
        titles = []
        for (run, rows), colour in zip(message.runs, COLOURS):
            loss = series(rows, "loss")
            titles.append(f"{run.name} ({run.status}, {len(loss.steps)} points)")
            if loss.steps:
                plot.plot(loss.steps, loss.values, line_style=f"dim {colour}", hires_mode=HiResMode.BRAILLE)
                plot.plot(
                    loss.steps,
                    smoothed(loss.values),
                    line_style=f"bold {colour}",
                    hires_mode=HiResMode.BRAILLE,
                    label=run.name,
                )
            evals = series(rows, "eval_loss")
            if evals.steps:
                plot.scatter(evals.steps, evals.values, marker="*", marker_style=colour, label=f"{run.name} eval")
        plot.show_legend()
        differing = len(message.diff.differing())
        summary = f"{differing} of {len(message.diff.rows)} fields differ"
        self.query_one("#compare-title", Static).update("  vs  ".join(titles) + f"  ({summary})")
        self.diff = message.diff
        self._fill()

    def action_toggle_differences(self) -> None:
        self.only_differences = not self.only_differences
        self._fill()

    def _fill(self) -> None:
        """The diff's rows (or only the differing ones), each differing row marked and highlighted."""
        from rich.text import Text

        from llmdeck.services.run_diff import shown

        if self.diff is None:
            return
        table = self.query_one("#compare-diff", DataTable)
        rows = self.diff.differing() if self.only_differences else self.diff.rows
        cells: list[tuple[object, ...]] = []
        for row in rows:
            style = DIFFERS if row.differs else ""
            texts = (row.section, row.field, shown(row.first, CELL_WIDTH), shown(row.second, CELL_WIDTH))
            cells.append(("*" if row.differs else "", *(Text(text, style=style) for text in texts)))
        fill(table, ("", "section", "field", *self.run_ids), cells or [("", "", "(no field differs)", "", "")])

    @on(Worker.StateChanged)
    def failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(str(event.worker.error), title="compare failed", severity="error")
