"""The train screen: the runs table with live status and a live monitor of the highlighted run, and a
new-run form generated from the training config type.

Training runs in its own process (`llmdeck.tuning.runs.launch`): closing the app never stops a run, and
reopening it re-attaches (the table and the monitor read the registry and the run directory). The monitor
follows `metrics.jsonl` incrementally in a worker and shows a new row within ~0.5 s.

A completed run exports from here (`llmdeck.tuning.export.export_run`, as `llmdeck export`: merge, convert,
quantize, score, register) with progress per stage and the per-quant loss/size table at the end, and opens
in the chat screen with its adapter applied (`services.chat`'s `adapter=RUN`, as `llmdeck chat --adapter`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (Button, DataTable, Header, Input, Label, Log, ProgressBar, Select, Sparkline,
                             Static, Checkbox, TabbedContent, TabPane)
from textual.worker import get_current_worker

from llmdeck.core.units import duration, human_size
from llmdeck.tui.screens.base import BaseScreen, WorkCancelled, late_footer

MONITOR_POLL_S = 0.25
RUNS_POLL_S = 1.0
PLOT_POINTS = 400  # plotted points per series (longer runs are thinned evenly)
RUN_COLUMNS = ("id", "name", "method", "status", "step", "loss", "eta")
EXPORT_COLUMNS = ("quant", "name", "size", "loss", "ppl", "delta", "status")
EXPORT_PROGRESS_EVERY_S = 0.1
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")


def thinned(steps: list, values: list, limit: int = PLOT_POINTS) -> tuple[list, list]:
    if len(steps) <= limit:
        return steps, values
    stride = math.ceil(len(steps) / limit)
    keep = list(range(0, len(steps), stride))
    if keep[-1] != len(steps) - 1:
        keep.append(len(steps) - 1)
    return [steps[i] for i in keep], [values[i] for i in keep]


def field_help(description: str, problem: str | None = None):
    """A form field's description, and its problem (in the error colour) when it has one."""
    from rich.text import Text

    text = Text(description, style="dim")
    if problem:
        text.append(f"\n{problem}", style="bold red")
    return text


def run_row(run) -> tuple:
    metrics = run.last_metrics or {}
    loss = metrics.get("loss")
    eta = metrics.get("eta_s") if run.status == "running" else None
    return (run.id, run.name, run.method, run.status, f"{run.global_step}/{run.max_steps or '?'}",
            f"{loss:.4f}" if isinstance(loss, (int, float)) else "-", duration(eta) if eta else "-")


class TrainScreen(BaseScreen):
    """Fine-tuning: launch runs from a form, watch them live, stop, resume, clone, compare, export, chat."""

    CSS_PATH = "train.tcss"
    BINDINGS = [
        Binding("ctrl+n", "new_run", "New run"),
        Binding("ctrl+l", "launch", "Launch run"),
        Binding("s", "stop_run", "Stop run"),
        Binding("u", "resume_run", "Resume run"),
        Binding("c", "clone_run", "Clone run"),
        Binding("space", "mark_run", "Mark run to compare"),
        Binding("m", "compare_runs", "Compare runs"),
        Binding("ctrl+y", "show_command", "CLI command/YAML"),
        Binding("ctrl+s", "save_config", "Save config"),
        Binding("e", "export_run", "Export run"),
        Binding("t", "chat_with_run", "Chat with run"),
        Binding("o", "open_loops", "Self-improvement loops"),
        Binding("ctrl+x", "close_export", "Cancel/close export", show=False),
    ]
    PALETTE = [("Show the runs", "show_runs"), ("Pick a dataset file", "pick_dataset")]
    WIDGET_KEYS = [("Enter", "runs table: follow the run in the monitor")]
    SUBSCREENS = [("o", "loop", "LoopScreen")]  # listed in the help with their own keys

    # -- messages --------------------------------------------------------------------------------
    @dataclass
    class RunsListed(Message):
        runs: list

    @dataclass
    class MonitorUpdate(Message):
        run: object
        rows: list
        reset: bool
        log_lines: list | None

    @dataclass
    class DataChecked(Message):
        text: str
        ok: bool

    @dataclass
    class Planned(Message):
        text: str
        fits: bool

    @dataclass
    class RunStarted(Message):
        run_id: str
        note: str

    @dataclass
    class BaseModels(Message):
        names: list

    @dataclass
    class ExportProgress(Message):
        stage: str
        message: str
        done: int | None
        total: int | None

    @dataclass
    class ExportEnded(Message):
        run_id: str
        report: object | None  # tuning.export.ExportReport; None when cancelled

    def __init__(self) -> None:
        super().__init__()
        self.followed: str | None = None  # the run in the monitor
        self.marked: str | None = None  # the first run of a comparison
        self.metrics_rows: list[dict] = []
        self.run_ids: list[str] = []
        self.form_config = None  # the last valid config of the form
        self._form_timer = None
        self._data_source: tuple | None = None
        self.command_shown = False
        self.form_opened = False
        self.config_shown_for: str | None = None
        self.runs_by_id: dict = {}
        self.exporting: str | None = None  # the run being exported
        self.export_stages: list[list] = []  # [stage, text, finished]

    def compose(self) -> ComposeResult:
        from textual_plot import PlotWidget

        from llmdeck.tuning.config_fields import field_specs

        yield Header()
        with TabbedContent(id="train-tabs", initial="runs-tab"):
            with TabPane("Runs", id="runs-tab"):
                with Vertical(id="runs-body"):
                    yield DataTable(id="runs-table", cursor_type="row")
                    with Vertical(id="export-panel"):
                        yield Static("", id="export-title", classes="pane-title", markup=False)
                        yield Static("", id="export-stages", markup=False)
                        yield ProgressBar(id="export-bar", show_eta=False)
                        yield DataTable(id="export-report", cursor_type="row")
                    with Vertical(id="monitor"):
                        yield Static("no run yet: ctrl+n opens the new-run form", id="monitor-stats", markup=False)
                        yield Static("", id="monitor-alerts", markup=False)
                        with Horizontal(id="monitor-plots"):
                            yield PlotWidget(id="loss-plot", allow_pan_and_zoom=False)
                            yield PlotWidget(id="lr-plot", allow_pan_and_zoom=False)
                        yield Label("grad norm", id="grad-norm-label")
                        yield Sparkline([], id="grad-norm")
                        with Horizontal(id="monitor-bottom"):
                            yield Log(id="monitor-log", max_lines=500)
                            with VerticalScroll(id="monitor-config"):
                                yield Static("", id="monitor-config-text", markup=False)
            with TabPane("New run", id="form-tab"):
                with Horizontal(id="form-body"):
                    with VerticalScroll(id="train-form"):
                        with Grid(id="train-form-grid"):
                            for spec in field_specs():
                                yield from self._field(spec)
                    with VerticalScroll(id="form-side"):
                        yield Label("Data check", classes="pane-title")
                        yield Static("(bundled sample until you name a dataset)", id="data-preview", markup=False)
                        yield Label("Estimate", classes="pane-title")
                        yield Static("", id="estimate", markup=False)
                        with Horizontal(id="form-buttons"):
                            yield Button("Launch (ctrl+l)", variant="primary", id="launch")
                            yield Button("CLI / YAML (ctrl+y)", id="show-command")
                            yield Button("Save config (ctrl+s)", id="save-config")
                        yield Static("", id="form-command", markup=False)
        yield late_footer()

    def _field(self, spec):
        """Three cells of the form's grid: name, entry (a checkbox, a choice or a text input), and a line
        that holds the field's description and, when there is one, its problem."""
        from llmdeck.tuning.config_fields import display

        default = display(spec.default)
        yield Label(spec.name, classes="field-name")
        if spec.kind == "bool":
            yield Checkbox("on", value=bool(spec.default), compact=True, id=f"in-{spec.name}")
        elif spec.kind == "choice":
            options = [("auto" if c == "" else c, c) for c in spec.choices]
            yield Select(options, value=default, allow_blank=False, compact=True, id=f"in-{spec.name}")
        else:
            yield Input(default, placeholder="(default)" if spec.optional else "", compact=True, id=f"in-{spec.name}")
        if spec.name == "base_model":
            yield Label("", classes="field-name")
            yield Select([], prompt="or pick a store model", compact=True, id="pick-base-model")
        if spec.name == "dataset":
            yield Label("", classes="field-name")
            yield Button("Browse for a file...", compact=True, id="pick-dataset")
        yield Static(field_help(spec.description), classes="field-help", id=f"help-{spec.name}")

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        for column in RUN_COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.query_one("#export-report", DataTable).add_columns(*EXPORT_COLUMNS)
        for plot_id, title in (("#loss-plot", "loss"), ("#lr-plot", "learning rate")):
            plot = self.query_one(plot_id)
            plot.set_xlabel("step")
            plot.set_ylabel(title)
        self.poll_runs()
        self.set_interval(RUNS_POLL_S, self.poll_runs)

    @on(TabbedContent.TabActivated, "#train-tabs")
    def tab_shown(self, event: TabbedContent.TabActivated) -> None:
        """The form's data check and estimate (which load torch) start the first time the form is shown."""
        if event.pane.id == "form-tab" and not self.form_opened:
            self.form_opened = True
            self.list_base_models()
            self.form_changed()

    # -- runs table --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def poll_runs(self) -> None:
        from llmdeck.tuning.runs import list_runs

        self.post_message(self.RunsListed(list_runs()))

    @on(RunsListed)
    def show_runs(self, message: RunsListed) -> None:
        table = self.query_one("#runs-table", DataTable)
        ids = [run.id for run in message.runs]
        self.runs_by_id = {run.id: run for run in message.runs}
        if ids != self.run_ids:
            keep = self.followed
            table.clear()
            for run in message.runs:
                table.add_row(*run_row(run), key=run.id)
            self.run_ids = ids
            if keep in ids:
                table.move_cursor(row=ids.index(keep), animate=False)
        else:
            for run in message.runs:
                for column, value in zip(RUN_COLUMNS, run_row(run)):
                    table.update_cell(run.id, column, value)
        if self.followed is None and ids:
            self.follow_run(ids[0])

    @on(DataTable.RowHighlighted, "#runs-table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.followed:
            self.follow_run(event.row_key.value)

    def _highlighted_run(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # -- the monitor -----------------------------------------------------------------------------
    def follow_run(self, run_id: str) -> None:
        self.followed = run_id
        self.metrics_rows = []
        self.query_one("#monitor-log", Log).clear()
        self.query_one("#monitor-config-text", Static).update("")
        self.config_shown_for = None
        self.follow(run_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor")
    def follow(self, run_id: str) -> None:
        """Poll the run's metrics (new bytes only), log and status; post what changed."""
        from llmdeck.tuning.monitor import MetricsFollower, log_tail
        from llmdeck.tuning.runs import LOG_FILE, get

        worker = get_current_worker()
        run = get(run_id)
        follower = MetricsFollower(run.path)
        log_size, last_seen = -1, None
        while not worker.is_cancelled:
            run = get(run_id)
            rows, reset = follower.read_new()
            log_file = run.path / LOG_FILE
            size = log_file.stat().st_size if log_file.exists() else 0
            tail = log_tail(log_file) if size != log_size else None
            log_size = size
            state = (run.status, run.global_step, run.error)
            if rows or reset or tail is not None or state != last_seen:
                self.post_message(self.MonitorUpdate(run, rows, reset, tail))
                last_seen = state
            time.sleep(MONITOR_POLL_S if run.status in ("queued", "running") else 4 * MONITOR_POLL_S)

    @on(MonitorUpdate)
    def show_monitor(self, message: MonitorUpdate) -> None:
        run = message.run
        if run.id != self.followed:
            return
        if message.reset:
            self.metrics_rows = []
        self.metrics_rows += message.rows
        self._stats(run)
        if message.rows or message.reset:
            self._plots()
        if message.log_lines is not None:
            log = self.query_one("#monitor-log", Log)
            log.clear()
            log.write_lines(message.log_lines)
        if self.config_shown_for != run.id:
            import yaml

            self.config_shown_for = run.id
            self.query_one("#monitor-config-text", Static).update(
                "resolved config\n" + yaml.safe_dump(run.config, sort_keys=False))

    def _stats(self, run) -> None:
        from llmdeck.tuning.monitor import alerts

        last = dict(run.last_metrics or {})
        for row in self.metrics_rows[-3:]:
            last.update(row)
        total = run.max_steps or last.get("max_steps")
        elapsed = last.get("elapsed_s")
        started = run.started_at
        if run.status == "running" and started:
            elapsed = time.time() - started
        parts = [f"{run.name} [{run.status}]", f"step {run.global_step}/{total or '?'}"]
        if elapsed:
            parts.append(f"elapsed {duration(elapsed)}")
        if run.status == "running" and last.get("eta_s") is not None:
            parts.append(f"ETA {duration(last['eta_s'])}")
        for key, label, fmt in (("loss", "loss", "{:.4f}"), ("eval_loss", "eval", "{:.4f}"),
                                ("learning_rate", "lr", "{:.2e}"), ("tokens_per_s", "tok/s", "{:.1f}")):
            if isinstance(last.get(key), (int, float)):
                parts.append(f"{label} {fmt.format(last[key])}")
        if last.get("peak_rss_bytes"):
            parts.append(f"peak RSS {human_size(last['peak_rss_bytes'])}")
        if run.error:
            parts.append(f"error: {run.error}")
        self.query_one("#monitor-stats", Static).update("  ".join(parts))
        found = alerts(self.metrics_rows)
        self.query_one("#monitor-alerts", Static).update(
            "\n".join(f"! {a.message}" for a in found[-3:]) if found else "")

    def _plots(self) -> None:
        from textual_plot import HiResMode

        from llmdeck.tuning.monitor import series, smoothed

        loss_plot = self.query_one("#loss-plot")
        loss_plot.clear()
        loss = series(self.metrics_rows, "loss")
        if loss.steps:
            loss_plot.plot(*thinned(loss.steps, loss.values), line_style="grey50", hires_mode=HiResMode.BRAILLE,
                           label="loss")
            loss_plot.plot(*thinned(loss.steps, smoothed(loss.values)), line_style="bold cyan",
                           hires_mode=HiResMode.BRAILLE, label="smoothed")
        evals = series(self.metrics_rows, "eval_loss")
        if evals.steps:
            loss_plot.scatter(evals.steps, evals.values, marker="*", marker_style="bold magenta", label="eval")
        if loss.steps or evals.steps:
            loss_plot.show_legend()
        lr_plot = self.query_one("#lr-plot")
        lr_plot.clear()
        lr = series(self.metrics_rows, "learning_rate")
        if lr.steps:
            lr_plot.plot(*thinned(lr.steps, lr.values), line_style="green", hires_mode=HiResMode.BRAILLE)
        grad = series(self.metrics_rows, "grad_norm")
        self.query_one("#grad-norm", Sparkline).data = [v for v in grad.values[-200:] if math.isfinite(v)]
        self.query_one("#grad-norm-label", Label).update(
            f"grad norm (last {min(200, len(grad.values))} steps, latest {grad.values[-1]:.3g})" if grad.values else "grad norm")

    # -- run actions -------------------------------------------------------------------------------
    def action_show_runs(self) -> None:
        self.query_one(TabbedContent).active = "runs-tab"
        self.query_one("#runs-table", DataTable).focus()

    def action_stop_run(self) -> None:
        run_id = self._highlighted_run()
        if run_id:
            self.control_run("stop", run_id)

    def action_resume_run(self) -> None:
        run_id = self._highlighted_run()
        if run_id:
            self.control_run("resume", run_id)

    @work(thread=True, exit_on_error=False, group="run control")
    def control_run(self, what: str, run_id: str) -> None:
        from llmdeck.tuning import runs

        if what == "stop":
            run = runs.stop(run_id)
            note = f"stop requested for {run.name}: a checkpoint is saved at the end of the current step"
        else:
            run = runs.resume(run_id)
            note = f"resumed {run.name} from step {run.global_step}"
        self.post_message(self.RunStarted(run.id, note))

    @on(RunStarted)
    def run_started(self, message: RunStarted) -> None:
        self.notify(message.note)
        self.poll_runs()
        self.action_show_runs()
        if message.run_id != self.followed:
            self.follow_run(message.run_id)
        else:  # a resume truncates metrics past the checkpoint: read them again
            self.follow_run(message.run_id)

    def action_clone_run(self) -> None:
        run_id = self._highlighted_run()
        if run_id:
            self.clone(run_id)

    @work(thread=True, exit_on_error=False, group="clone")
    def clone(self, run_id: str) -> None:
        from llmdeck.tuning.runs import get

        run = get(run_id)
        self.app.call_from_thread(self.fill_form, {**run.config, "name": None}, f"cloned from {run.name}")

    def action_mark_run(self) -> None:
        run_id = self._highlighted_run()
        if run_id:
            self.marked = None if self.marked == run_id else run_id
            self.notify(f"marked {run_id} for comparison: highlight another run and press m" if self.marked
                        else "comparison mark cleared")

    def action_compare_runs(self) -> None:
        from llmdeck.tui.screens.compare_runs import CompareRunsScreen

        other = self._highlighted_run()
        if not self.marked or not other or other == self.marked:
            self.notify("mark a run with space, then highlight another and press m", severity="warning")
            return
        self.app.push_screen(CompareRunsScreen(self.marked, other))

    # -- export and chat with a completed run ------------------------------------------------------
    def _completed_run(self, doing: str) -> str | None:
        run_id = self._highlighted_run()
        run = self.runs_by_id.get(run_id)
        if run is None:
            return None
        if run.status != "completed":
            self.notify(f"run {run.name} is {run.status}: only a completed run can be used to {doing}",
                        severity="warning")
            return None
        return run_id

    def action_open_loops(self) -> None:
        from llmdeck.tui.screens.loop import LoopScreen

        self.app.push_screen(LoopScreen())

    def action_export_run(self) -> None:
        run_id = self._completed_run("export")
        if run_id is not None:
            self.export_run_id(run_id)

    def export_run_id(self, run_id: str) -> None:
        """Ask for the quants, then export `run_id` (a completed run; also reached from the models screen)."""
        from llmdeck.tui.screens.quant_picker import QuantPickerScreen
        from llmdeck.tuning import runs

        if run_id not in self.runs_by_id:  # the runs table may not have been read yet
            self.runs_by_id[run_id] = runs.get(run_id)
        if self.exporting:
            self.notify(f"an export is running ({self.exporting}): ctrl+x cancels it", severity="warning")
            return
        run = self.runs_by_id[run_id]
        self.app.push_screen(QuantPickerScreen(f"Export run {run.name} into the model store", multiple=True,
                                               name_hint=f"(default: from the run name, {run.name})", scoring=True),
                             lambda choice: choice and self._start_export(run_id, choice))

    def _start_export(self, run_id: str, choice: dict) -> None:
        self.exporting = run_id
        self.export_stages = []
        self.query_one("#export-panel").add_class("shown")
        self.query_one("#export-title", Static).update(
            f"Export of {self.runs_by_id[run_id].name}: {', '.join(choice['quants'])} (ctrl+x cancels)")
        self.query_one("#export-stages", Static).update("checking the run...")
        self.query_one("#export-report", DataTable).clear()
        self.query_one("#export-bar", ProgressBar).update(total=None, progress=0)
        self.export(run_id, choice["quants"], choice["name"], choice["score"])

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def export(self, run_id: str, quants: list[str], name: str | None, score: bool) -> None:
        """One call of the export function; its progress callback posts the stages and stops it when cancelled."""
        from llmdeck.tuning.export import export_run

        worker = get_current_worker()
        last = {"at": 0.0}

        def on_event(event) -> None:
            if worker.is_cancelled:
                raise WorkCancelled(f"export of {run_id}")
            counted = event.done is not None and event.done != event.total
            if counted and time.monotonic() - last["at"] < EXPORT_PROGRESS_EVERY_S:
                return
            last["at"] = time.monotonic()
            self.post_message(self.ExportProgress(event.stage, event.message, event.done, event.total))

        try:
            report = export_run(run_id, quants=quants, name=name, score=score, on_event=on_event)
        except Exception:
            if worker.is_cancelled:  # the export cleaned up after itself: nothing registered, no temp files
                self.post_message(self.ExportEnded(run_id, None))
                return
            raise
        self.post_message(self.ExportEnded(run_id, report))

    @on(ExportProgress)
    def show_export_progress(self, message: ExportProgress) -> None:
        bar = self.query_one("#export-bar", ProgressBar)
        if message.done is None:  # a stage starts: the one before it is done
            for stage in self.export_stages:
                stage[2] = True
            self.export_stages.append([message.stage, message.message, False])
            bar.update(total=None, progress=0)
        else:
            if self.export_stages:
                self.export_stages[-1][1] = f"{message.done}/{message.total or '?'} {message.message}"
            bar.update(total=message.total, progress=message.done)
        self._show_stages()

    def _show_stages(self, seconds: dict | None = None) -> None:
        lines = []
        for stage, text, finished in self.export_stages:
            took = f" ({seconds[stage]:.1f} s)" if seconds and stage in seconds else ""
            lines.append(f"{'done' if finished else '....'}  {stage}{took}: {text}")
        self.query_one("#export-stages", Static).update("\n".join(lines))

    @on(ExportEnded)
    def export_ended(self, message: ExportEnded) -> None:
        self.exporting = None
        report = message.report
        if report is None:
            self.query_one("#export-title", Static).update(f"Export of {message.run_id} cancelled: nothing was registered")
            return
        for stage in self.export_stages:
            stage[2] = True
        self._show_stages(report.stage_seconds)
        bar = self.query_one("#export-bar", ProgressBar)
        bar.update(total=1, progress=1)
        table = self.query_one("#export-report", DataTable)
        table.clear()
        for row in export_rows(report):
            table.add_row(*row)
        registered = [q.name for q in report.quants if q.registered]
        self.query_one("#export-title", Static).update(
            f"Exported {message.run_id}: {', '.join(registered) or 'nothing registered'} (Models, F2; ctrl+x closes)")
        self.notify(f"registered {', '.join(registered)}: see the Models screen (F2)" if registered else
                    "no quant was registered", title="export finished",
                    severity="information" if registered else "warning")

    def action_close_export(self) -> None:
        if self.exporting:
            self.query_one("#export-title", Static).update(f"cancelling the export of {self.exporting}...")
            self.workers.cancel_group(self, "export")
        else:
            self.query_one("#export-panel").remove_class("shown")

    async def action_chat_with_run(self) -> None:
        from llmdeck.tui.screens.chat import ChatScreen

        run_id = self._completed_run("chat with")
        if run_id is None:
            return
        await self.app.switch_mode("chat")
        if isinstance(self.app.screen, ChatScreen):
            self.app.screen.chat_with_run(run_id)

    # -- the new-run form --------------------------------------------------------------------------
    def action_new_run(self) -> None:
        self.query_one(TabbedContent).active = "form-tab"
        self.query_one("#in-name").focus()

    @work(thread=True, exit_on_error=False, group="models")
    def list_base_models(self) -> None:
        from llmdeck.core.store import ModelStore

        self.post_message(self.BaseModels([e.name for e in ModelStore().list()]))

    @on(BaseModels)
    def show_base_models(self, message: BaseModels) -> None:
        picker = self.query_one("#pick-base-model", Select)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in message.names])

    @on(Select.Changed, "#pick-base-model")
    def base_model_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#in-base_model", Input).value = str(event.value)

    @on(Button.Pressed, "#pick-dataset")
    def action_pick_dataset(self) -> None:
        from pathlib import Path

        from llmdeck.tui.screens.file_picker import FilePickerScreen

        self.app.push_screen(FilePickerScreen("Pick a dataset file (or type a directory)", DATA_SUFFIXES, Path.cwd(),
                                              directories=True), self._dataset_picked)

    def _dataset_picked(self, path) -> None:
        if path:
            self.query_one("#in-dataset", Input).value = str(path)

    def form_texts(self) -> dict:
        from llmdeck.tuning.config_fields import field_specs

        texts = {}
        for spec in field_specs():
            widget = self.query_one(f"#in-{spec.name}")
            value = widget.value
            texts[spec.name] = value if isinstance(widget, Checkbox) else ("" if value is Select.NULL else str(value))
        return texts

    def fill_form(self, values: dict, note: str = "") -> None:
        from llmdeck.tuning.config_fields import display, field_specs

        for spec in field_specs():
            widget = self.query_one(f"#in-{spec.name}")
            value = values.get(spec.name, spec.default)
            if isinstance(widget, Checkbox):
                widget.value = bool(value)
            else:
                widget.value = display(value)
        self.action_new_run()
        if note:
            self.notify(note)

    @on(Input.Changed, "#train-form Input")
    @on(Select.Changed, "#train-form Select")
    @on(Checkbox.Changed, "#train-form Checkbox")
    def field_changed(self) -> None:
        if self._form_timer is not None:
            self._form_timer.stop()
        self._form_timer = self.set_timer(0.4, self.form_changed)

    def form_changed(self) -> None:
        """Check every field now (inline errors); data check and estimate in workers when they may change."""
        from llmdeck.tuning.config_fields import check_form, field_specs

        if not self.form_opened:
            return
        texts = self.form_texts()
        config, problems = check_form(texts)
        for spec in field_specs():
            self.query_one(f"#help-{spec.name}", Static).update(field_help(spec.description, problems.get(spec.name)))
        self.form_config = config
        source = (texts.get("dataset") or "", texts.get("dataset_format") or "auto")
        if source != self._data_source:
            self._data_source = source
            self.query_one("#data-preview", Static).update("checking the data...")
            self.check_data(*source)
        estimate = self.query_one("#estimate", Static)
        if config is None:
            estimate.update(f"fix {len(problems)} field(s) first: {', '.join(sorted(problems))}")
            estimate.add_class("refused")
            return
        estimate.update("estimating memory and time...")
        self.plan_run(config)
        if self.command_shown:
            self.action_show_command()

    @work(thread=True, exclusive=True, exit_on_error=False, group="data check")
    def check_data(self, dataset: str, fmt: str) -> None:
        from llmdeck.core.errors import LlmdeckError
        from llmdeck.tuning import data

        try:
            report = data.check(dataset or None, fmt)
        except LlmdeckError as exc:
            self.post_message(self.DataChecked(str(exc), False))
            return
        lines = [f"{report.source}", f"format {report.format}: {report.rows} rows, {report.valid} valid, "
                 f"{report.bad_count} bad"]
        lines += [f"  {bad.location}: {bad.problem}" for bad in report.bad_rows[:5]]
        if report.bad_count > 5:
            lines.append(f"  ... and {report.bad_count - 5} more bad rows")
        if report.bad_count:
            lines.append("bad rows refuse the launch unless skip_bad is on")
        self.post_message(self.DataChecked("\n".join(lines), report.bad_count == 0))

    @on(DataChecked)
    def show_data_check(self, message: DataChecked) -> None:
        preview = self.query_one("#data-preview", Static)
        preview.update(message.text)
        preview.set_class(not message.ok, "refused")

    @work(thread=True, exclusive=True, exit_on_error=False, group="estimate")
    def plan_run(self, config) -> None:
        from llmdeck.core.errors import LlmdeckError
        from llmdeck.tuning.runs import plan

        try:
            found = plan(config)
        except LlmdeckError as exc:
            self.post_message(self.Planned(f"refused: {exc}", False))
            return
        e = found.estimate
        available = human_size(e.available_bytes) if e.available_bytes else "unknown"
        verdict = "fits" if e.fits else "DOES NOT FIT"
        refusal = found.refusal()
        warning = found.truncation_warning()
        self.post_message(self.Planned(
            f"{found.data_report.valid} rows, ~{e.steps} steps, {e.tokens:,} tokens on {e.device}\n"
            f"peak ~{human_size(e.peak_bytes)} of {available}: {verdict}\n"
            f"  weights {human_size(e.weights_bytes)}, trainable+optimizer {human_size(e.trainable_bytes)}, "
            f"activations {human_size(e.activations_bytes)}\n"
            f"time ~{duration(e.seconds)} ({e.trainable_parameters:,} of {e.parameters:,} parameters trained)"
            + (f"\nthe launch is refused: {refusal}" if refusal else f"\nwarning: {warning}" if warning else ""),
            refusal is None))

    @on(Planned)
    def show_plan(self, message: Planned) -> None:
        estimate = self.query_one("#estimate", Static)
        estimate.update(message.text)
        estimate.set_class(not message.fits, "refused")

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        if self.form_config is None:
            self.form_changed()
        if self.form_config is None:
            self.notify("the form has problems (shown under each field)", severity="error")
            return
        self.query_one("#launch", Button).disabled = True
        self.launch(self.form_config)

    @work(thread=True, exit_on_error=False, group="launch")
    def launch(self, config) -> None:
        from llmdeck.tuning.runs import launch

        run, found = launch(config)
        self.post_message(self.RunStarted(run.id, f"launched {run.name}: {found.data_report.valid} rows, "
                                                  f"~{found.estimate.steps} steps"))

    @on(RunStarted)
    def enable_launch(self) -> None:
        self.query_one("#launch", Button).disabled = False

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "export":
            self.exporting = None
            self.query_one("#export-title", Static).update(f"Export failed: {error}")
        if action == "launch":
            self.query_one("#launch", Button).disabled = False
            self.query_one("#estimate", Static).update(f"launch refused: {error}")
            self.query_one("#estimate", Static).add_class("refused")

    @on(Button.Pressed, "#show-command")
    def action_show_command(self) -> None:
        from llmdeck.tuning.config_fields import as_command

        if self.form_config is None:
            self.notify("the form has problems (shown under each field)", severity="error")
            return
        self.command_shown = True
        self.query_one("#form-command", Static).update(
            f"{as_command(self.form_config)}\n\n# as a config file (llmdeck train --config FILE)\n"
            f"{self.form_config.to_yaml()}")

    @on(Button.Pressed, "#save-config")
    def action_save_config(self) -> None:
        from llmdeck.tui.screens.text_prompt import TextPromptScreen

        if self.form_config is None:
            self.notify("the form has problems (shown under each field)", severity="error")
            return
        config = self.form_config
        default = f"{config.name or config.method + '-run'}.yaml"
        self.app.push_screen(TextPromptScreen("Save this config as (YAML)", default),
                             lambda path: path and self.save_config(config, path))

    @work(thread=True, exit_on_error=False, group="save config")
    def save_config(self, config, path: str) -> None:
        from pathlib import Path

        from llmdeck.tuning.config_fields import save_config

        saved = save_config(config, Path(path))
        self.app.call_from_thread(self.notify, f"saved {saved.resolve()} (llmdeck train --config {saved})")


def export_rows(report) -> list[tuple]:
    """The export's table: the f16 reference, then each quant with its size, loss, perplexity, loss delta."""
    def number(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    rows = [("f16 (reference)", "-", human_size(report.f16_size_bytes), number(report.f16_loss, ".4f"),
             number(report.f16_perplexity, ".3f"), "-", "-")]
    for item in report.quants:
        status = "registered" if item.registered else f"refused ({item.refused})" if item.refused else "not registered"
        rows.append((item.quant, item.name, human_size(item.size_bytes), number(item.loss, ".4f"),
                     number(item.perplexity, ".3f"), number(item.loss_delta, "+.4f"), status))
    return rows
