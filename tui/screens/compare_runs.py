"""Two runs side by side: their loss curves overlaid (raw and smoothed) and the config fields that differ."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

COLOURS = ("cyan", "magenta")


class CompareRunsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close")]

    @dataclass
    class Loaded(Message):
        runs: list  # [(run, metrics rows)] x 2
        diff: list

    def __init__(self, first_id: str, second_id: str):
        super().__init__()
        self.run_ids = (first_id, second_id)

    def compose(self) -> ComposeResult:
        from textual_plot import PlotWidget

        with Vertical(classes="dialog tall"):
            yield Static("comparing...", id="compare-title", classes="dialog-title", markup=False)
            yield PlotWidget(id="compare-plot", allow_pan_and_zoom=False)
            yield DataTable(id="compare-diff", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#compare-diff", DataTable).add_columns("field", *self.run_ids)
        self.load(*self.run_ids)

    @work(thread=True, exit_on_error=False, group="compare")
    def load(self, first_id: str, second_id: str) -> None:
        from llmdeck.tuning.monitor import config_diff
        from llmdeck.tuning.runs import get, metrics

        runs = [(get(run_id), metrics(run_id)) for run_id in (first_id, second_id)]
        self.post_message(self.Loaded(runs, config_diff(runs[0][0].config, runs[1][0].config)))

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
        self.query_one("#compare-title", Static).update("  vs  ".join(titles))
        table = self.query_one("#compare-diff", DataTable)
        for name, first, second in message.diff:
            table.add_row(name, str(first), str(second))
        if not message.diff:
            table.add_row("(same config)", "", "")

    @on(Worker.StateChanged)
    def failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(str(event.worker.error), title="compare failed", severity="error")
