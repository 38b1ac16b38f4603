"""The train screen: the runs table with live status and a live monitor of the highlighted run, the export
panel, and a new-run form generated from the training config type (the widgets in `tui/widgets/`); this
module is their layout, the workers that call `tuning`, and the handlers of their messages.

Training runs in its own process (`llmdeck.tuning.runs.launch`): closing the app never stops a run, and
reopening it re-attaches (the table and the monitor read the registry and the run directory). The monitor
follows `metrics.jsonl` incrementally in a worker and shows a new row within ~0.5 s. The form's data check, its
estimate, a launch and a resume run in the plan process (`llmdeck.tuning.plan_process`): this process never
imports torch, and a config planned before shows its estimate at once.

A completed run exports from here (`llmdeck.tuning.export.export_run`, as `llmdeck export`: merge, convert,
quantize, score, register) with progress per stage and the per-quant loss/size table at the end, and opens
in the chat screen with its adapter applied (`services.chat`'s `adapter=RUN`, as `llmdeck chat --adapter`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Header, TabbedContent, TabPane
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, ask, late_footer
from llmdeck.tui.widgets.export_panel import ExportPanel
from llmdeck.tui.widgets.run_monitor import RunMonitor
from llmdeck.tui.widgets.runs_table import RunsTable
from llmdeck.tui.widgets.train_form import TrainForm

if TYPE_CHECKING:
    from llmdeck.tuning.plan_summary import PlanSummary
    from llmdeck.tuning.runs import Run

MONITOR_POLL_S = 0.25
RUNS_POLL_S = 1.0
EXPORT_PROGRESS_EVERY_S = 0.1
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")


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
        Binding("v", "evaluate_run", "Evaluate run vs its base", show=False),
        Binding("o", "open_loops", "Self-improvement loops"),
        Binding("ctrl+x", "close_export", "Cancel/close export", show=False),
    ]
    PALETTE = [("Show the runs", "show_runs"), ("Pick a dataset file", "pick_dataset")]
    WIDGET_KEYS = [("Enter", "runs table: follow the run in the monitor")]
    SUBSCREENS = [
        ("o", "loop", "LoopScreen"),
        ("m", "compare_runs", "CompareRunsScreen"),
        ("v", "evaluate", "EvalScreen"),
    ]  # in the help, with their keys

    # -- messages (from this screen's workers) -------------------------------------------------------
    @dataclass
    class RunsListed(Message):
        runs: list

    @dataclass
    class MonitorUpdate(Message):
        run: Run
        rows: list
        reset: bool
        log_lines: list
        log_reset: bool

    @dataclass
    class DataChecked(Message):
        text: str
        ok: bool

    @dataclass
    class Planned(Message):
        summary: PlanSummary | None  # None when planning refused the config
        refusal: str = ""

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

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="train-tabs", initial="runs-tab"):
            with TabPane("Runs", id="runs-tab"):
                with Vertical(id="runs-body"):
                    yield RunsTable(id="runs-table")
                    yield ExportPanel(id="export-panel")
                    yield RunMonitor(id="monitor")
            with TabPane("New run", id="form-tab"):
                yield TrainForm(id="form-body")
        yield late_footer()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()
        self.poll_runs()
        self.set_interval(RUNS_POLL_S, self.poll_runs)

    @on(TabbedContent.TabActivated, "#train-tabs")
    def tab_shown(self, event: TabbedContent.TabActivated) -> None:
        """The form's data check and estimate (in the plan process) start the first time the form is shown."""
        form = self.query_one(TrainForm)
        if event.pane.id == "form-tab" and not form.opened:
            self.list_base_models()
            form.start_checking()

    # -- runs table --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def poll_runs(self) -> None:
        from llmdeck.tuning.runs import list_runs

        self.post_message(self.RunsListed(list_runs()))

    @on(RunsListed)
    def show_runs(self, message: RunsListed) -> None:
        table = self.query_one(RunsTable)
        table.show(message.runs, self.followed)
        if self.followed is None and table.run_ids:
            self.follow_run(table.run_ids[0])

    @on(RunsTable.RowHighlighted, "#runs-table")
    def highlighted(self, event: RunsTable.RowHighlighted) -> None:
        run_id = event.row_key.value if event.row_key is not None else None
        if run_id is not None and run_id != self.followed:
            self.follow_run(run_id)

    # -- the monitor -----------------------------------------------------------------------------
    def follow_run(self, run_id: str) -> None:
        self.followed = run_id
        self.query_one(RunMonitor).clear()
        self.follow(run_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor")
    def follow(self, run_id: str) -> None:
        """Poll the run's metrics and log (new bytes only) and its status; post what changed."""
        from llmdeck.tuning.monitor import LogFollower, MetricsFollower
        from llmdeck.tuning.runs import LOG_FILE, get

        worker = get_current_worker()
        run = get(run_id)
        follower, log_follower = MetricsFollower(run.path), LogFollower(run.path / LOG_FILE)
        last_seen = None
        while not worker.is_cancelled:
            run = get(run_id)
            rows, reset = follower.read_new()
            log_lines, log_reset = log_follower.read_new()
            state = (run.status, run.global_step, run.error)
            if rows or reset or log_lines or log_reset or state != last_seen:
                self.post_message(self.MonitorUpdate(run, rows, reset, log_lines, log_reset))
                last_seen = state
            time.sleep(MONITOR_POLL_S if run.status in ("queued", "running") else 4 * MONITOR_POLL_S)

    @on(MonitorUpdate)
    def show_monitor(self, message: MonitorUpdate) -> None:
        if message.run.id == self.followed:
            self.query_one(RunMonitor).show(
                message.run, message.rows, message.reset, message.log_lines, message.log_reset
            )

    # -- run actions -------------------------------------------------------------------------------
    def action_show_runs(self) -> None:
        self.query_one(TabbedContent).active = "runs-tab"
        self.query_one(RunsTable).focus()

    def action_stop_run(self) -> None:
        run_id = self.query_one(RunsTable).highlighted_run()
        if run_id:
            self.control_run("stop", run_id)

    def action_resume_run(self) -> None:
        run_id = self.query_one(RunsTable).highlighted_run()
        if run_id:
            self.control_run("resume", run_id)

    @work(thread=True, exit_on_error=False, group="run control")
    def control_run(self, what: str, run_id: str) -> None:
        """A stop here (a flag file); a resume in the plan process (it checks the pinned base model's files)."""
        from llmdeck.tuning import runs
        from llmdeck.tuning.plan_process import call

        if what == "stop":
            run = runs.stop(run_id)
            note = f"stop requested for {run.name}: a checkpoint is saved at the end of the current step"
            self.post_message(self.RunStarted(run.id, note))
            return
        resumed = call({"op": "resume", "run_id": run_id})
        assert resumed is not None  # always wanted: call() gives None only when asked with a `wanted`
        self.post_message(self.RunStarted(resumed["run_id"], resumed["note"]))

    @on(RunStarted)
    def run_started(self, message: RunStarted) -> None:
        self.query_one(TrainForm).launching(False)
        self.notify(message.note)
        self.poll_runs()
        self.action_show_runs()
        self.follow_run(message.run_id)  # after a resume too: it truncates the metrics past its checkpoint

    def action_clone_run(self) -> None:
        run_id = self.query_one(RunsTable).highlighted_run()
        if run_id:
            self.clone(run_id)

    @work(thread=True, exit_on_error=False, group="clone")
    def clone(self, run_id: str) -> None:
        from llmdeck.tuning.runs import get

        run = get(run_id)
        self.app.call_from_thread(self.fill_form, {**run.config, "name": None}, f"cloned from {run.name}")

    def action_mark_run(self) -> None:
        run_id = self.query_one(RunsTable).highlighted_run()
        if run_id:
            self.marked = None if self.marked == run_id else run_id
            self.notify(
                f"marked {run_id} for comparison: highlight another run and press m"
                if self.marked
                else "comparison mark cleared"
            )

    def action_compare_runs(self) -> None:
        from llmdeck.tui.screens.compare_runs import CompareRunsScreen

        other = self.query_one(RunsTable).highlighted_run()
        if not self.marked or not other or other == self.marked:
            self.notify("mark a run with space, then highlight another and press m", severity="warning")
            return
        self.app.push_screen(CompareRunsScreen(self.marked, other))

    def action_open_loops(self) -> None:
        from llmdeck.tui.screens.loop import LoopScreen

        self.app.push_screen(LoopScreen())

    # -- export and chat with a completed run ------------------------------------------------------
    def _completed_run(self, doing: str) -> str | None:
        table = self.query_one(RunsTable)
        run = table.runs_by_id.get(table.highlighted_run())
        if run is None:
            return None
        if run.status != "completed":
            self.notify(
                f"run {run.name} is {run.status}: only a completed run can be used to {doing}", severity="warning"
            )
            return None
        return run.id

    def action_export_run(self) -> None:
        run_id = self._completed_run("export")
        if run_id is not None:
            self.export_run_id(run_id)

    def export_run_id(self, run_id: str) -> None:
        """Ask for the quants, then export `run_id` (a completed run; also reached from the models screen)."""
        from llmdeck.tui.screens.quant_picker import QuantPickerScreen
        from llmdeck.tuning import runs

        known = self.query_one(RunsTable).runs_by_id
        if run_id not in known:  # the runs table may not have been read yet
            known[run_id] = runs.get(run_id)
        exporting = self.query_one(ExportPanel).exporting
        if exporting:
            self.notify(f"an export is running ({exporting}): ctrl+x cancels it", severity="warning")
            return
        run = known[run_id]
        ask(
            self.app,
            QuantPickerScreen(
                f"Export run {run.name} into the model store",
                multiple=True,
                name_hint=f"(default: from the run name, {run.name})",
                scoring=True,
            ),
            lambda choice: self._start_export(run, choice),
        )

    def _start_export(self, run, choice: dict) -> None:
        self.query_one(ExportPanel).start(run.id, run.name, choice["quants"])
        self.export(run.id, choice["quants"], choice["name"], choice["score"])

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def export(self, run_id: str, quants: list[str], name: str | None, score: bool) -> None:
        """One export in a child process (torch and the converter stay out of the app's); its events become the
        panel's stages, and a cancelled worker stops it (the child cleans up: nothing registered)."""
        from llmdeck.tuning.export_process import export_in_child

        worker = get_current_worker()
        last = {"at": 0.0}

        def on_event(event) -> None:
            counted = event.done is not None and event.done != event.total
            if counted and time.monotonic() - last["at"] < EXPORT_PROGRESS_EVERY_S:
                return
            last["at"] = time.monotonic()
            self.post_message(self.ExportProgress(event.stage, event.message, event.done, event.total))

        report = export_in_child(run_id, quants, name, score, on_event, lambda: worker.is_cancelled)
        self.post_message(self.ExportEnded(run_id, report))

    @on(ExportProgress)
    def show_export_progress(self, message: ExportProgress) -> None:
        self.query_one(ExportPanel).progress(message.stage, message.message, message.done, message.total)

    @on(ExportEnded)
    def export_ended(self, message: ExportEnded) -> None:
        registered = self.query_one(ExportPanel).ended(message.run_id, message.report)
        if registered is None:
            return
        self.notify(
            f"registered {', '.join(registered)}: see the Models screen (F2)"
            if registered
            else "no quant was registered",
            title="export finished",
            severity="information" if registered else "warning",
        )

    def action_close_export(self) -> None:
        panel = self.query_one(ExportPanel)
        if panel.exporting:
            panel.cancelling()
            self.workers.cancel_group(self, "export")
        else:
            panel.close_panel()

    async def action_chat_with_run(self) -> None:
        from llmdeck.tui.screens.chat import ChatScreen

        run_id = self._completed_run("chat with")
        if run_id is None:
            return
        await self.app.switch_mode("chat")
        if isinstance(self.app.screen, ChatScreen):
            self.app.screen.chat_with_run(run_id)

    def action_evaluate_run(self) -> None:
        """The eval screen comparing the highlighted run's adapter (`+RUN`) with its base model."""
        from llmdeck.services.evaluate import run_models
        from llmdeck.tui.screens.evaluate import EvalScreen

        table = self.query_one(RunsTable)
        run = table.runs_by_id.get(table.highlighted_run())
        run_id = self._completed_run("evaluate")
        if run is not None and run_id is not None:
            self.app.push_screen(EvalScreen(models=run_models(run_id, run.config.get("base_model"))))

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
        self.query_one(TrainForm).show_base_models(message.names)

    @on(Button.Pressed, "#pick-dataset")
    def action_pick_dataset(self) -> None:
        from pathlib import Path

        from llmdeck.tui.screens.file_picker import FilePickerScreen

        ask(
            self.app,
            FilePickerScreen("Pick a dataset file (or type a directory)", DATA_SUFFIXES, Path.cwd(), directories=True),
            lambda path: self.query_one(TrainForm).show_dataset(path),
        )

    def fill_form(self, values: dict, note: str = "") -> None:
        self.query_one(TrainForm).fill(values)
        self.action_new_run()
        if note:
            self.notify(note)

    @on(TrainForm.DataSourceChanged)
    def data_source_changed(self, message: TrainForm.DataSourceChanged) -> None:
        self.check_data(message.dataset, message.format)

    @work(thread=True, exclusive=True, exit_on_error=False, group="data check")
    def check_data(self, dataset: str, fmt: str) -> None:
        """The data check, in the plan process (a big file is read and checked there, not under the app's GIL)."""
        from llmdeck.tuning.plan_process import call

        worker = get_current_worker()
        found = call({"op": "check", "dataset": dataset, "format": fmt}, lambda: not worker.is_cancelled)
        if found is not None:
            self.post_message(self.DataChecked(found["text"], found["ok"]))

    @on(DataChecked)
    def show_data_check(self, message: DataChecked) -> None:
        self.query_one(TrainForm).show_data_check(message.text, message.ok)

    @on(TrainForm.ConfigChanged)
    def config_changed(self, message: TrainForm.ConfigChanged) -> None:
        self.plan_run(message.config)

    @work(thread=True, exclusive=True, exit_on_error=False, group="estimate")
    def plan_run(self, config) -> None:
        """The plan, in the plan process (torch, transformers and the model's files load there), or as it was
        found for the same config before; a plan asked for again while this one waits replaces it."""
        from llmdeck.core.errors import LlmdeckError
        from llmdeck.tuning.plan_process import plan_summary

        worker = get_current_worker()
        try:
            summary = plan_summary(config, lambda: not worker.is_cancelled)
        except LlmdeckError as exc:
            if not worker.is_cancelled:
                self.post_message(self.Planned(None, f"refused: {exc}"))
            return
        if summary is not None and not worker.is_cancelled:
            self.post_message(self.Planned(summary))

    @on(Planned)
    def show_plan(self, message: Planned) -> None:
        form = self.query_one(TrainForm)
        if message.summary is None:
            form.show_refusal(message.refusal)
        else:
            form.show_plan(message.summary)

    def _valid_form_config(self):
        """The form's config, or None (and a notice) while a field has a problem."""
        config = self.query_one(TrainForm).config
        if config is None:
            self.notify("the form has problems (shown under each field)", severity="error")
        return config

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        form = self.query_one(TrainForm)
        if form.config is None:
            form.check()
        config = self._valid_form_config()
        if config is not None:
            form.launching(True)
            self.launch(config)

    @work(thread=True, exit_on_error=False, group="launch")
    def launch(self, config) -> None:
        """The launch, in the plan process (it plans again, then starts the run's own process)."""
        from llmdeck.tuning.plan_process import call

        started = call({"op": "launch", "config": config.model_dump(mode="json")})
        assert started is not None  # always wanted: call() gives None only when asked with a `wanted`
        self.post_message(self.RunStarted(started["run_id"], started["note"]))

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "export":
            self.query_one(ExportPanel).failed(error)
        if action == "launch":
            form = self.query_one(TrainForm)
            form.launching(False)
            form.show_refusal(f"launch refused: {error}")

    @on(Button.Pressed, "#show-command")
    def action_show_command(self) -> None:
        if self._valid_form_config() is not None:
            self.query_one(TrainForm).show_command()

    @on(Button.Pressed, "#save-config")
    def action_save_config(self) -> None:
        from llmdeck.tui.screens.text_prompt import TextPromptScreen

        config = self._valid_form_config()
        if config is None:
            return
        default = f"{config.name or config.method + '-run'}.yaml"
        ask(
            self.app,
            TextPromptScreen("Save this config as (YAML)", default),
            lambda path: self.save_config(config, path),
        )

    @work(thread=True, exit_on_error=False, group="save config")
    def save_config(self, config, path: str) -> None:
        from pathlib import Path

        from llmdeck.tuning.config_fields import save_config

        saved = save_config(config, Path(path))
        self.app.call_from_thread(self.notify, f"saved {saved.resolve()} (llmdeck train --config {saved})")
