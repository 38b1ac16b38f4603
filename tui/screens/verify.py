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
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Header, Input, Label, Select, Static, TextArea
from textual.worker import get_current_worker

from llmdeck.agents.events import CodeExecuted, CodeWritten, RunEvent
from llmdeck.tui.screens.base import late_footer
from llmdeck.tui.screens.run_screen import RunScreen
from llmdeck.tui.widgets.field_input import FieldInput
from llmdeck.tui.widgets.run_history import RunHistory
from llmdeck.tui.widgets.verify_rounds import VerifyRounds

if TYPE_CHECKING:
    from llmdeck.agents.records import RunRecord

ISOLATION_TIERS = ("auto", "bubblewrap", "namespaces", "process")


class VerifyScreen(RunScreen):
    """Code verification: a writer model writes Python, a sandboxed executor runs and checks it."""

    CSS_PATH = "verify.tcss"
    RUN_KIND = "verify"
    TRACE = VerifyRounds
    BUSY_NOTE = "a verification is running: Esc stops it"
    BINDINGS = [
        Binding("ctrl+r", "run_verify", "Run verification"),
        Binding("escape", "stop", "Stop verification"),
        Binding("ctrl+f", "pick_tests", "Pick a tests file"),
        Binding("ctrl+n", "new_task", "New task"),
    ]
    PALETTE = [("Pick the writer's model", "pick_model"), ("Show the past verify runs", "focus_runs")]
    WIDGET_KEYS = [("Enter", "past runs: open a run's rounds and verdict (and fill the form with its task)")]

    @dataclass
    class Started(Message):
        run_id: str
        model: str

    @dataclass
    class Finished(RunScreen.Finished):
        status: str | None
        rounds: int
        isolation: str | None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="verify-body"):
            with VerticalScroll(id="verify-form"):
                yield Label("Task", classes="pane-title")
                yield TextArea(
                    id="verify-task", soft_wrap=True, compact=True, placeholder="What the program must do (ctrl+r runs)"
                )
                yield Label("Expected output (exact stdout)", classes="pane-title")
                yield TextArea(id="verify-expect", soft_wrap=True, compact=True, placeholder="(none)")
                yield Label("or a tests file (.py of asserts)", classes="pane-title")
                with Horizontal(id="verify-tests-row"):
                    yield FieldInput(placeholder="(none)", compact=True, id="verify-tests")
                    yield Button("Browse", compact=True, id="verify-browse")
                yield Label("Writer model", classes="pane-title")
                yield Select([], prompt="model", allow_blank=True, compact=True, id="verify-model")
                yield Label("Max rounds", classes="pane-title")
                yield FieldInput("3", type="integer", compact=True, id="verify-max-rounds")
                yield Label("Sandbox", classes="pane-title")
                yield Select(
                    [(tier, tier) for tier in ISOLATION_TIERS],
                    value="auto",
                    allow_blank=False,
                    compact=True,
                    id="verify-isolation",
                )
                yield Button("Run (ctrl+r)", variant="primary", id="verify-run")
            with Vertical(id="verify-main"):
                yield Static("model: resolving...", id="verify-status", classes="status", markup=False)
                yield VerifyRounds(id="verify-rounds")
                yield Label("Past runs (Enter opens)", classes="pane-title")
                yield RunHistory("verify", steps_label="rounds", id="verify-runs")
        yield late_footer()

    def on_mount(self) -> None:
        self.query_one("#verify-task", TextArea).focus()

    # -- the tests file ----------------------------------------------------------------------------
    @on(Button.Pressed, "#verify-browse")
    def action_pick_tests(self) -> None:
        from llmdeck.tui.screens.file_picker import FilePickerScreen

        self.app.push_screen(
            FilePickerScreen("Pick a tests file (Python asserts or test_ functions)", (".py",), Path.cwd()),
            self._tests_picked,
        )

    def _tests_picked(self, path: Path | None) -> None:
        if path:
            self.query_one("#verify-tests", Input).value = str(path)

    # -- running -----------------------------------------------------------------------------------
    @on(Button.Pressed, "#verify-run")
    async def action_run_verify(self) -> None:
        if self.refused_while_busy():
            return
        task = self.query_one("#verify-task", TextArea).text.strip()
        if not task:
            self.notify("describe the task first", severity="warning")
            self.query_one("#verify-task", TextArea).focus()
            return
        expect = self.query_one("#verify-expect", TextArea).text
        tests = self.query_one("#verify-tests", Input).value.strip()
        model = await self.start_run(task)
        self.verify_run(
            task,
            model,
            expect if expect.strip() else None,
            tests or None,
            self.query_one("#verify-max-rounds", Input).value,
            str(self.query_one("#verify-isolation", Select).value),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify_run(
        self, task: str, model: str | None, expect: str | None, tests: str | None, max_rounds: str, isolation: str
    ) -> None:
        """One service call, its events relayed (Esc, quitting: the writer stops at its next token)."""
        from llmdeck.agents.verify import VerifyOptions
        from llmdeck.core.errors import validated
        from llmdeck.services.verify import verify

        options = validated(VerifyOptions, "verify", {"max_rounds": max_rounds or 0})
        worker = get_current_worker()
        response = verify(
            task,
            model=model,
            expect=expect,
            tests=tests,
            options=options,
            isolation=isolation,
            stop_when=lambda: worker.is_cancelled,
        )
        self.post_message(self.Started(response.run_id, response.model))
        self.relay_events(response)
        self.post_message(
            self.Finished(response.run_id, response.cancelled, response.status, response.rounds, response.isolation)
        )

    @on(Started)
    def run_started(self, message: Started) -> None:
        self.run_id, self.run_model = message.run_id, message.model
        self._status(f"model: {message.model} - run {message.run_id}: writing code... (Esc stops)")
        self.query_one(RunHistory).reload()

    async def show_event(self, event: RunEvent) -> None:
        await self.query_one(VerifyRounds).add_event(event)
        if self.busy and isinstance(event, (CodeWritten, CodeExecuted)):  # not busy: a past run is being shown again
            doing = "running it in the sandbox" if isinstance(event, CodeWritten) else "writing the next round"
            self._status(f"run {self.run_id}: round {event.round}: {doing}... (Esc stops)")

    def outcome(self, message: RunScreen.Finished) -> str:
        assert isinstance(message, VerifyScreen.Finished)  # the run worker posts this screen's own Finished
        if message.cancelled:
            return "stopped (recorded as cancelled)"
        return f"{message.status} after {message.rounds} round(s), sandbox {message.isolation}"

    async def action_new_task(self) -> None:
        if self.refused_while_busy():
            return
        await self.clear_run()
        for selector in ("#verify-task", "#verify-expect"):
            self.query_one(selector, TextArea).text = ""
        self.query_one("#verify-tests", Input).value = ""
        self.query_one("#verify-task", TextArea).focus()

    # -- past runs -------------------------------------------------------------------------------
    def fill_form(self, run: RunRecord) -> None:
        checks = run.options.get("checks") or {}
        self.query_one("#verify-task", TextArea).text = run.prompt
        self.query_one("#verify-expect", TextArea).text = checks.get("expect") or ""
        self.query_one("#verify-tests", Input).value = checks.get("tests_file") or ""
        self.query_one("#verify-max-rounds", Input).value = str(run.options.get("max_rounds", 3))
