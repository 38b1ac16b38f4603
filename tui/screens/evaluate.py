"""The eval screen (`v` on the models screen and on the train screen's runs): models answer an eval file's rows
(`llmdeck eval MODEL... --tasks FILE`, run in a child process), with progress, and the same table as the CLI:
each metric per model with n and a 95% interval, and every model's paired difference from the first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Header, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, late_footer
from llmdeck.tui.widgets.field_input import FieldInput
from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.services.evaluate import ApartEvaluation, EvalReported, Evaluation, RowScored


ROW_COLUMNS = (("model", 32), ("row", 24), ("scorer", 8), ("result", 6), ("seconds", 7))


class EvalScreen(BaseScreen):
    """Evaluate models on an eval file: progress per row, then each metric with its 95% interval."""

    CSS_PATH = "evaluate.tcss"
    BINDINGS = [
        Binding("ctrl+r", "run_eval", "Run the eval"),
        Binding("ctrl+x", "stop_eval", "Stop the eval"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    WIDGET_KEYS = [("enter", "in a field: run the eval (a re-run resumes from the stored scores)")]

    @dataclass
    class Started(Message):
        source: str
        models: list[str]
        total: int
        done: int

    @dataclass
    class Scored(Message):
        event: RowScored

    @dataclass
    class Reported(Message):
        event: EvalReported

    class Ended(Message):
        """The eval's worker is done: finished, stopped or failed."""

    def __init__(self, models: list[str] | None = None, tasks_file: str | None = None):
        super().__init__()
        self.models = list(models or [])
        self.tasks_file = tasks_file
        self.running = False
        self.evaluation: Evaluation | ApartEvaluation | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="eval-setup"):
            yield FieldInput(" ".join(self.models), placeholder="models: MODEL MODEL+RUN +RUN", id="eval-models")
            yield FieldInput(self.tasks_file or "", placeholder="eval file (JSON lines)", id="eval-tasks")
            yield FieldInput(placeholder="judge model (for judge rows)", id="eval-judge")
        with Horizontal(id="eval-progress"):
            yield Label("", id="eval-progress-label")
            yield ProgressBar(id="eval-progress-bar", show_eta=False)
        yield Label("Results", classes="pane-title")
        yield DataTable(id="eval-table", cursor_type="row")
        yield Label("Rows", classes="pane-title")
        yield DataTable(id="eval-rows", cursor_type="row")
        yield Static("Enter runs the eval.", id="eval-status", markup=False)
        yield late_footer()

    def on_mount(self) -> None:
        if not self.tasks_file:
            from llmdeck.services.evaluate import sample_file

            self.query_one("#eval-tasks", Input).value = str(sample_file())
        rows = self.query_one("#eval-rows", DataTable)
        for label, width in ROW_COLUMNS:  # fixed widths: the table does not reflow as rows stream in
            rows.add_column(label, width=width)
        self.query_one("#eval-models", Input).focus()

    def on_unmount(self) -> None:
        self.action_stop_eval()

    # -- running ---------------------------------------------------------------------------------------------------
    @on(Input.Submitted)
    def action_run_eval(self) -> None:
        if self.running:
            self.notify("an eval is running (ctrl+x stops it)", severity="warning")
            return
        models = self.query_one("#eval-models", Input).value.split()
        tasks_file = self.query_one("#eval-tasks", Input).value.strip()
        judge = self.query_one("#eval-judge", Input).value.strip() or None
        if not models or not tasks_file:
            self.notify("give the models and an eval file", severity="warning")
            return
        self.running = True
        self.query_one("#eval-rows", DataTable).clear()
        self._status(f"starting: {' '.join(models)} on {tasks_file}")
        self.run_eval(models, tasks_file, judge)

    def action_stop_eval(self) -> None:
        """Stop after the current row: the child is ended off the UI thread (it may take a moment)."""
        import threading

        evaluation = self.evaluation
        if not self.running or evaluation is None:
            return
        self.workers.cancel_group(self, "eval")
        threading.Thread(target=evaluation.close, name="eval-stop", daemon=True).start()
        if self.is_attached:
            self._status("stopping: the scores so far are stored; run again to resume")

    @work(thread=True, exclusive=True, exit_on_error=False, group="eval")
    def run_eval(self, models: list[str], tasks_file: str, judge: str | None) -> None:
        from llmdeck.services.evaluate import EvalReported, EvalStarted, RowScored, evaluate_apart

        worker = get_current_worker()
        try:
            evaluation = self.evaluation = evaluate_apart(models, tasks_file, judge_model=judge)
            for event in evaluation:
                if worker.is_cancelled:
                    break
                if isinstance(event, EvalStarted):
                    self.post_message(self.Started(event.source, event.models, event.total, event.done))
                elif isinstance(event, RowScored):
                    self.post_message(self.Scored(event))
                elif isinstance(event, EvalReported):
                    self.post_message(self.Reported(event))
            evaluation.close()
        finally:
            self.post_message(self.Ended())

    @on(Ended)
    def ended(self) -> None:
        if self.running:  # no report came: stopped
            self._status("stopped: the scores so far are stored; run again to resume")
        self.running = False
        self.evaluation = None

    def work_failed(self, action: str, error: BaseException | None) -> None:
        self.running = False
        self.evaluation = None
        self._status(f"eval failed: {error}")

    @on(Started)
    def started(self, message: Started) -> None:
        bar = self.query_one("#eval-progress-bar", ProgressBar)
        bar.update(total=message.total, progress=message.done)
        resumed = f" ({message.done} stored before)" if message.done else ""
        self.query_one("#eval-progress-label", Label).update(f"0/{message.total}{resumed}")
        self._status(f"{len(message.models)} model(s) on {Path(message.source).name}")

    @on(Scored)
    def scored(self, message: Scored) -> None:
        event = message.event
        outcome = {True: "pass", False: "fail", None: f"{event.value:g}"}[event.passed]
        seconds = "stored" if event.resumed else f"{event.seconds:.1f}"
        rows = self.query_one("#eval-rows", DataTable)
        rows.add_row(event.model, event.row_id, event.scorer, outcome, seconds)
        rows.move_cursor(row=rows.row_count - 1)
        self.query_one("#eval-progress-bar", ProgressBar).update(total=event.total, progress=event.done)
        self.query_one("#eval-progress-label", Label).update(f"{event.done}/{event.total}")

    @on(Reported)
    def reported(self, message: Reported) -> None:
        from llmdeck.services.eval_report import delta_text, interval_text

        event = message.event
        self.running = False
        labels = event.models
        table = self.query_one("#eval-table", DataTable)
        cells = []
        for row in event.rows:
            counts = sorted({m["n"] for m in row["models"].values()})
            cells.append(
                (
                    row["metric"],
                    "/".join(str(c) for c in counts),
                    *[interval_text(row["models"].get(label)) for label in labels],
                    *[delta_text(row["deltas"].get(label)) for label in labels[1:]],
                )
            )
        fill(table, ("metric", "n", *labels, *[f"{label} - {labels[0]}" for label in labels[1:]]), cells)
        stopped = " (stopped: run again to score the rest)" if event.stopped else ""
        self._status(f"done: {len(event.rows)} metrics, 95% intervals; differences are paired bootstrap{stopped}")

    def _status(self, text: str) -> None:
        self.query_one("#eval-status", Static).update(text)
