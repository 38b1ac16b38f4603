"""The loop screen (the Train screen's `o`): start or resume a self-improvement loop, watch its stages, and
read each round's summary table (what was collected, the data built, the losses, the model exported, the gate's
decision); a chart per metric (chosen in the select) draws every round's held-out or transfer value with its 95%
interval, accepted rounds marked apart from rejected ones, and a line names the current model and why. Past
loops are listed with their tables.

One worker runs `llmdeck.services.loop.run_loop` (the same call as `llmdeck loop`). Esc stops the loop after
its current step; a training run it started keeps going in its own process, and starting the loop again under
the same name resumes it where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, DataTable, Header, Input, Label, Log, Select, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, late_footer
from llmdeck.tui.widgets.field_input import FieldInput
from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.services.loop import LoopEvent, LoopResponse


class LoopScreen(BaseScreen):
    """Collect -> data -> train -> export, round after round, from the app."""

    CSS_PATH = "loop.tcss"
    BINDINGS = [
        Binding("ctrl+r", "start_loop", "Start/resume loop"),
        Binding("escape", "stop_or_back", "Stop loop / back"),
    ]
    WIDGET_KEYS = [("Enter", "loops table: show a loop's rounds and fill the form with its name (ctrl+r resumes it)")]

    @dataclass
    class Listed(Message):
        loops: list  # services.loop.LoopState

    @dataclass
    class Event(Message):
        event: LoopEvent

    @dataclass
    class Ended(Message):
        name: str
        status: str

    def __init__(self) -> None:
        super().__init__()
        self.running: str | None = None  # the name of the loop this screen runs
        self.response: LoopResponse | None = None  # the running loop's, for close()
        self.states: dict = {}
        self.curve: list[dict] = []  # services.loop.curve_rows of the loop shown
        self.curves_drawn = 0  # how many times the chart was drawn (the tests read it)

    def compose(self) -> ComposeResult:
        from textual_plot import PlotWidget

        from llmdeck.core.validate import MAX_AUTO_WORKERS
        from llmdeck.services.loop import CURVE_METRICS, LoopConfig

        defaults = {name: str(field.default) for name, field in LoopConfig.model_fields.items()}  # as `llmdeck loop`
        yield Header()
        with Horizontal(id="loop-body"):
            with VerticalScroll(id="loop-form"):
                yield Label("Name (an existing one resumes)", classes="pane-title")
                yield FieldInput(placeholder="loop-DATE", compact=True, id="loop-name")
                yield Label("Task files (comma-separated; empty: the bundled ones)", classes="pane-title")
                yield FieldInput(placeholder="bundled tool questions and coding tasks", compact=True, id="loop-tasks")
                yield Label("Rounds", classes="pane-title")
                yield FieldInput(defaults["rounds"], type="integer", compact=True, id="loop-rounds")
                yield Label("Attempts per task", classes="pane-title")
                yield FieldInput(defaults["samples"], type="integer", compact=True, id="loop-samples")
                yield Label("Train tasks per category at most (empty: all)", classes="pane-title")
                yield FieldInput("", type="integer", compact=True, id="loop-limit")
                yield Checkbox("Evaluate on the held-out tasks (the gate)", True, compact=True, id="loop-evaluate")
                yield Label("Held-out tasks per category at most", classes="pane-title")
                yield FieldInput("", type="integer", compact=True, id="loop-eval-limit")
                yield Label("HumanEval problems at most (empty: all 164)", classes="pane-title")
                yield FieldInput("", type="integer", compact=True, id="loop-humaneval-limit")
                yield Label(
                    f"Workers attempting tasks side by side (empty: one per core, at most {MAX_AUTO_WORKERS})",
                    classes="pane-title",
                )
                yield FieldInput("", type="integer", compact=True, id="loop-workers")
                yield Button("Start / resume (ctrl+r)", variant="primary", id="loop-start")
            with Vertical(id="loop-main"):
                yield Static("no loop running", id="loop-status", classes="status", markup=False)
                yield Label("Loops (Enter shows one)", classes="pane-title")
                yield DataTable(id="loop-list", cursor_type="row", zebra_stripes=True)
                yield Label("Rounds", classes="pane-title")
                yield DataTable(id="loop-rounds-table", zebra_stripes=True)
                yield Static("", id="loop-current", markup=False)
                with Horizontal(id="loop-chart"):
                    yield Select(
                        [(metric, metric) for metric in CURVE_METRICS],
                        value=CURVE_METRICS[0],
                        allow_blank=False,
                        compact=True,
                        id="loop-metric",
                    )
                    yield PlotWidget(id="loop-curve", allow_pan_and_zoom=False)
                yield Log(id="loop-log", max_lines=2000)
        yield late_footer()

    def on_mount(self) -> None:
        table = self.query_one("#loop-list", DataTable)
        table.add_columns("loop", "status", "rounds", "minutes", "CPU min")
        self.query_one("#loop-name", Input).focus()
        self.list_loops()

    # -- past loops ---------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def list_loops(self) -> None:
        from llmdeck.services.loop import list_loops

        self.post_message(self.Listed(list_loops()))

    @on(Listed)
    def show_loops(self, message: Listed) -> None:
        table = self.query_one("#loop-list", DataTable)
        table.clear()
        self.states = {state.name: state for state in message.loops}
        for state in reversed(message.loops):  # newest first
            table.add_row(
                state.name,
                state.status,
                str(len(state.rounds)),
                f"{state.seconds / 60:.1f}",
                f"{state.cpu_seconds / 60:.1f}",
                key=state.name,
            )
        shown = self.running or (message.loops[-1].name if message.loops else None)
        if shown in self.states:
            self.show_rounds(self.states[shown])

    @on(DataTable.RowSelected, "#loop-list")
    def loop_chosen(self, event: DataTable.RowSelected) -> None:
        state = self.states.get(event.row_key.value)
        if state is not None:
            self.show_rounds(state)
            if not self.running:
                self.query_one("#loop-name", Input).value = state.name

    def show_rounds(self, state) -> None:
        from llmdeck.services.loop import current_model, current_reason, curve_rows, summary_rows

        self.fill_rounds(summary_rows(state))
        self.curve = curve_rows(state)
        self.query_one("#loop-current", Static).update(
            f"current model: {current_model(state)} ({current_reason(state)})"
        )
        self.draw_curve()

    @on(Select.Changed, "#loop-metric")
    def metric_chosen(self, event: Select.Changed) -> None:
        self.draw_curve()

    def draw_curve(self) -> None:
        """The chosen metric per round (round 0: the base): its value, its 95% interval's ends, and a mark per round
        (* accepted, x rejected)."""
        from textual_plot import HiResMode, PlotWidget

        from llmdeck.tui.widgets.run_monitor import axis_limits

        metric = str(self.query_one("#loop-metric", Select).value)
        plot = self.query_one("#loop-curve", PlotWidget)
        plot.clear()
        plot.set_xlabel("round")
        plot.set_ylabel(metric)
        points = [(row["round"], row[metric], row["gate"]) for row in self.curve if row.get(metric)]
        points = [(r, m, gate) for r, m, gate in points if m.get("value") is not None]
        self.curves_drawn += 1
        if not points:
            return
        rounds = [float(r) for r, _, _ in points]
        values = [float(m["value"]) for _, m, _ in points]
        plot.plot(rounds, values, line_style="bold cyan", hires_mode=HiResMode.BRAILLE, label=metric)
        ends = [m for _, m, _ in points if m.get("low") is not None]
        if ends:
            interval_rounds = [float(r) for r, m, _ in points if m.get("low") is not None]
            plot.plot(interval_rounds, [float(m["low"]) for m in ends], line_style="grey50", label="95% interval")
            plot.plot(interval_rounds, [float(m["high"]) for m in ends], line_style="grey50")
        for gate, marker, style in (("accepted", "*", "bold green"), ("rejected", "x", "bold red")):
            marked_rounds = [float(r) for r, _, g in points if g == gate]
            marked_values = [float(m["value"]) for _, m, g in points if g == gate]
            if marked_rounds:
                plot.scatter(marked_rounds, marked_values, marker=marker, marker_style=style, label=gate)
        plot.show_legend()
        everything = values + [float(m[k]) for m in ends for k in ("low", "high")]
        plot.set_xlimits(*axis_limits(rounds, integral=True))
        plot.set_ylimits(*axis_limits(everything))

    def fill_rounds(self, rows: list[dict]) -> None:
        from llmdeck.services.loop import summary_columns

        table = self.query_one("#loop-rounds-table", DataTable)
        columns = summary_columns(rows)
        fill(table, columns, [["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows])

    # -- running a loop -----------------------------------------------------------------------------
    def form_values(self) -> dict:
        """The form as `run_loop`'s config (empty entries left to its defaults; it checks every value)."""

        def text(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value.strip()

        values: dict = {"evaluate": self.query_one("#loop-evaluate", Checkbox).value}
        if text("loop-name"):
            values["name"] = text("loop-name")
        if text("loop-tasks"):
            values["tasks"] = [part.strip() for part in text("loop-tasks").split(",") if part.strip()]
        for field, widget_id in (
            ("rounds", "loop-rounds"),
            ("samples", "loop-samples"),
            ("limit", "loop-limit"),
            ("eval_limit", "loop-eval-limit"),
            ("humaneval_limit", "loop-humaneval-limit"),
            ("workers", "loop-workers"),
        ):
            if text(widget_id):
                values[field] = text(widget_id)
        return values

    @on(Button.Pressed, "#loop-start")
    def action_start_loop(self) -> None:
        if self.running:
            self.notify(f"loop {self.running} is running (Esc stops it)", severity="warning")
            return
        self.query_one("#loop-log", Log).clear()
        self.running = self.query_one("#loop-name", Input).value.strip() or "(new)"
        self._status(f"starting loop {self.running}...")
        self.run_loop(self.form_values())

    @work(thread=True, exit_on_error=False, group="loop")
    def run_loop(self, values: dict) -> None:
        from llmdeck.services.loop import LoopFinished, run_loop

        worker = get_current_worker()
        response = run_loop(values)
        self.response = response
        status = "stopped"
        try:
            for event in response:
                if worker.is_cancelled:
                    response.close()
                self.post_message(self.Event(event))
                if isinstance(event, LoopFinished):
                    status = event.status
        finally:
            response.close()
            self.post_message(self.Ended(response.state.name, response.state.status or status))

    @on(Event)
    def loop_event(self, message: Event) -> None:
        from llmdeck.services.loop import (
            LoopFinished,
            RoundFinished,
            StageEnded,
            StageProgressed,
            StageStarted,
            stage_brief,
        )

        event = message.event
        log = self.query_one("#loop-log", Log)
        match event:
            case StageStarted() | StageEnded():
                if isinstance(event, StageStarted):
                    log.write_line(f"[round {event.round}] {event.stage} ...")
                else:
                    log.write_line(f"[round {event.round}] {event.stage}: {event.status}{stage_brief(event.result)}")
                self._status(
                    f"loop {self.response.state.name if self.response else self.running}: round {event.round},"
                    f" {event.stage} ({event.status})"
                )
            case StageProgressed():
                self._status(
                    f"loop: round {event.round}, {event.stage} {event.done}/{event.total or '?'} {event.detail}"
                )
            case RoundFinished() if self.response is not None:
                self.show_rounds(self.response.state)
                log.write_line(f"round {event.round} done: model {event.row.get('model')}")
            case LoopFinished():
                if self.response is not None:
                    self.show_rounds(self.response.state)
                else:
                    self.fill_rounds(event.rows)
                log.write_line(
                    f"loop {event.loop} {event.status}: {event.seconds / 60:.1f} min wall,"
                    f" {event.cpu_seconds / 60:.1f} min CPU"
                )

    @on(Ended)
    def loop_ended(self, message: Ended) -> None:
        self.running, self.response = None, None
        self._status(f"loop {message.name} {message.status} (ctrl+r with its name resumes it)")
        self.list_loops()

    def action_stop_or_back(self) -> None:
        if self.running:
            self._status(f"stopping loop {self.running} after its current step...")
            if self.response is not None:
                self.response.close()
            self.workers.cancel_group(self, "loop")
        else:
            self.app.pop_screen()

    def on_unmount(self) -> None:
        if self.response is not None:  # quitting: the loop stops after its current step and is saved
            self.response.close()

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "loop":
            name = self.running
            self.running, self.response = None, None
            self.query_one("#loop-log", Log).write_line(f"failed: {error}")
            self._status(f"loop {name} failed: {error}")
            self.list_loops()

    def _status(self, text: str) -> None:
        self.query_one("#loop-status", Static).update(text)
