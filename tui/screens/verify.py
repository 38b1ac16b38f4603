"""The verify screen: a task, what checks it (the exact expected output, or a tests file), the writer model
and the round limit; each round's code (syntax highlighted) streams beside its execution output, then the
verdict (verified / ran, unverified / failed / gave up) and the sandbox tier that ran it; past runs reopen.

One worker per run calls `llmdeck.services.verify.verify` (the same call as `llmdeck verify`) with the
worker's cancellation as its stop check: Esc (or quitting) ends the writer's generation at the next token,
and the run is recorded as cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Header, Input, Label, Select, Static, TextArea
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, late_footer
from llmdeck.tui.widgets.run_history import RunHistory
from llmdeck.tui.widgets.verify_rounds import VerifyRounds

ISOLATION_TIERS = ("auto", "bubblewrap", "namespaces", "process")


class VerifyScreen(BaseScreen):
    """Code verification: a writer model writes Python, a sandboxed executor runs and checks it."""

    CSS_PATH = "verify.tcss"
    BINDINGS = [
        Binding("ctrl+r", "run_verify", "Run verification"),
        Binding("escape", "stop", "Stop verification"),
        Binding("ctrl+f", "pick_tests", "Pick a tests file"),
        Binding("ctrl+n", "new_task", "New task"),
    ]
    PALETTE = [("Pick the writer's model", "pick_model"), ("Show the past verify runs", "focus_runs")]
    WIDGET_KEYS = [("Enter", "past runs: open a run's rounds and verdict (and fill the form with its task)")]

    @dataclass
    class Listed(Message):
        models: list[str]
        default_model: str | None

    @dataclass
    class Started(Message):
        run_id: str
        model: str

    @dataclass
    class Traced(Message):
        """One event of the running pair."""

        event: dict

    @dataclass
    class Finished(Message):
        run_id: str
        status: str | None
        rounds: int
        isolation: str | None
        cancelled: bool

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.run_id: str | None = None
        self.run_model: str | None = None  # the model the current run resolved to (the store default's name)
        self.models: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="verify-body"):
            with VerticalScroll(id="verify-form"):
                yield Label("Task", classes="pane-title")
                yield TextArea(id="verify-task", soft_wrap=True, compact=True,
                               placeholder="What the program must do (ctrl+r runs)")
                yield Label("Expected output (exact stdout)", classes="pane-title")
                yield TextArea(id="verify-expect", soft_wrap=True, compact=True, placeholder="(none)")
                yield Label("or a tests file (.py of asserts)", classes="pane-title")
                with Horizontal(id="verify-tests-row"):
                    yield Input(placeholder="(none)", compact=True, id="verify-tests")
                    yield Button("Browse", compact=True, id="verify-browse")
                yield Label("Writer model", classes="pane-title")
                yield Select([], prompt="model", allow_blank=True, compact=True, id="verify-model")
                yield Label("Max rounds", classes="pane-title")
                yield Input("3", type="integer", compact=True, id="verify-max-rounds")
                yield Label("Sandbox", classes="pane-title")
                yield Select([(tier, tier) for tier in ISOLATION_TIERS], value="auto", allow_blank=False,
                             compact=True, id="verify-isolation")
                yield Button("Run (ctrl+r)", variant="primary", id="verify-run")
            with Vertical(id="verify-main"):
                yield Static("model: resolving...", id="verify-status", classes="status", markup=False)
                yield VerifyRounds(id="verify-rounds")
                yield Label("Past runs (Enter opens)", classes="pane-title")
                yield RunHistory("verify", steps_label="rounds", id="verify-runs")
        yield late_footer()

    def on_mount(self) -> None:
        self.query_one("#verify-task", TextArea).focus()

    def on_screen_resume(self) -> None:
        """The store is read each time the screen is shown (an export on the train screen adds models)."""
        self.list_models()

    # -- reading the store and the past runs -------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def list_models(self) -> None:
        from llmdeck.core.store import ModelStore

        store = ModelStore()
        models = [e.name for e in store.list()]
        self.post_message(self.Listed(models, store.resolve(None).name if models else None))

    @on(Listed)
    def show_models(self, message: Listed) -> None:
        picker = self.query_one("#verify-model", Select)
        chosen = picker.value
        self.models = set(message.models)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in message.models])
            picker.value = chosen if chosen in self.models else (message.default_model or Select.NULL)
        self._status(self._idle_status())

    @on(Select.Changed, "#verify-model")
    def model_changed(self) -> None:
        if not self.busy:
            self._status(self._idle_status())

    # -- the tests file ----------------------------------------------------------------------------
    @on(Button.Pressed, "#verify-browse")
    def action_pick_tests(self) -> None:
        from llmdeck.tui.screens.file_picker import FilePickerScreen

        self.app.push_screen(FilePickerScreen("Pick a tests file (Python asserts or test_ functions)", (".py",),
                                              Path.cwd()), self._tests_picked)

    def _tests_picked(self, path: Path | None) -> None:
        if path:
            self.query_one("#verify-tests", Input).value = str(path)

    # -- running -----------------------------------------------------------------------------------
    @on(Button.Pressed, "#verify-run")
    async def action_run_verify(self) -> None:
        if self.busy:
            self.notify("a verification is running: Esc stops it", severity="warning")
            return
        task = self.query_one("#verify-task", TextArea).text.strip()
        if not task:
            self.notify("describe the task first", severity="warning")
            self.query_one("#verify-task", TextArea).focus()
            return
        expect = self.query_one("#verify-expect", TextArea).text
        tests = self.query_one("#verify-tests", Input).value.strip()
        model = self.query_one("#verify-model", Select).value
        self.busy = True
        self.run_id = None
        await self.query_one(VerifyRounds).start(task)
        self._status(f"model: {model if model is not Select.NULL else 'store default'} - starting...")
        self.verify_run(task, None if model is Select.NULL else str(model), expect if expect.strip() else None,
                        tests or None, self.query_one("#verify-max-rounds", Input).value,
                        str(self.query_one("#verify-isolation", Select).value))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify_run(self, task: str, model: str | None, expect: str | None, tests: str | None, max_rounds: str,
                   isolation: str) -> None:
        """One service call; a cancellation check on every event (then the response is closed)."""
        from llmdeck.agents.verify import VerifyOptions
        from llmdeck.core.errors import validated
        from llmdeck.services.verify import verify

        options = validated(VerifyOptions, "verify", {"max_rounds": max_rounds or 0})
        worker = get_current_worker()  # cancelled (Esc, quitting): the writer stops at its next token
        response = verify(task, model=model, expect=expect, tests=tests, options=options, isolation=isolation,
                          stop_when=lambda: worker.is_cancelled)
        self.post_message(self.Started(response.run_id, response.model))
        try:
            for event in response:
                if worker.is_cancelled:
                    break
                self.post_message(self.Traced(event))
        finally:
            response.close()
        self.post_message(self.Finished(response.run_id, response.status, response.rounds, response.isolation,
                                        response.cancelled))

    @on(Started)
    def run_started(self, message: Started) -> None:
        self.run_id, self.run_model = message.run_id, message.model
        self._status(f"model: {message.model} - run {message.run_id}: writing code... (Esc stops)")
        self.query_one(RunHistory).reload()

    @on(Traced)
    async def show_event(self, message: Traced) -> None:
        if self.closing:
            return
        await self.query_one(VerifyRounds).add_event(message.event)
        kind = message.event["type"]
        if self.busy and kind in ("code", "execution"):
            doing = "running it in the sandbox" if kind == "code" else "writing the next round"
            self._status(f"run {self.run_id}: round {message.event['round']}: {doing}... (Esc stops)")

    @on(Finished)
    def run_finished(self, message: Finished) -> None:
        self.busy = False
        if self.closing:
            return
        if message.cancelled:
            self.query_one(VerifyRounds).note("stopped")
            outcome = "stopped (recorded as cancelled)"
        else:
            outcome = f"{message.status} after {message.rounds} round(s), sandbox {message.isolation}"
        self._status(f"model: {self.run_model} - run {message.run_id}: {outcome}")
        self.query_one(RunHistory).reload()

    def action_stop(self) -> None:
        if self.busy:
            self._status("stopping...")
        self.workers.cancel_group(self, "verify")

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "verify":
            self.busy = False
            self.query_one(VerifyRounds).note(f"failed: {error}")
            self._status(f"{self._idle_status()} - the run failed")
            self.query_one(RunHistory).reload()

    async def action_new_task(self) -> None:
        if self.busy:
            self.notify("a verification is running: Esc stops it", severity="warning")
            return
        await self.query_one(VerifyRounds).remove_children()
        for selector in ("#verify-task", "#verify-expect"):
            self.query_one(selector, TextArea).text = ""
        self.query_one("#verify-tests", Input).value = ""
        self.query_one("#verify-task", TextArea).focus()
        self.run_id = None
        self._status(self._idle_status())

    # -- past runs -------------------------------------------------------------------------------
    @on(RunHistory.Opened)
    async def show_run(self, message: RunHistory.Opened) -> None:
        if self.busy:
            self.notify("a verification is running: Esc stops it first", severity="warning")
            return
        run = message.run
        rounds = self.query_one(VerifyRounds)
        await rounds.start(run.prompt)
        for event in run.events:
            await rounds.add_event(event)
        if run.status == "cancelled":
            rounds.note("stopped")
        self.run_id = run.id
        self._fill_form(run)
        self._status(self.query_one(RunHistory).describe(run))

    def _fill_form(self, run) -> None:
        checks = run.options.get("checks") or {}
        self.query_one("#verify-task", TextArea).text = run.prompt
        self.query_one("#verify-expect", TextArea).text = checks.get("expect") or ""
        self.query_one("#verify-tests", Input).value = checks.get("tests_file") or ""
        if run.model in self.models:
            self.query_one("#verify-model", Select).value = run.model
        self.query_one("#verify-max-rounds", Input).value = str(run.options.get("max_rounds", 3))

    # -- pickers -----------------------------------------------------------------------------------
    def action_pick_model(self) -> None:
        self.query_one("#verify-model", Select).action_show_overlay()

    def action_focus_runs(self) -> None:
        self.query_one(RunHistory).focus()

    def _idle_status(self) -> str:
        model = self.query_one("#verify-model", Select).value
        return f"model: {model if model is not Select.NULL else 'store default'}"

    def _status(self, text: str) -> None:
        self.query_one("#verify-status", Static).update(text)
