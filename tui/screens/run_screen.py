"""The frame the agents and verify screens share: one recorded run at a time on a store model, its events
streamed into the screen's trace widget, Esc to stop it, past runs that reopen into the trace and the form.

A screen built on it names its kind (`RUN_KIND`: the ids' prefix `#<kind>-model` / `#<kind>-status` and its
run worker's group), its trace widget (`TRACE`: `start`, `note`, children) and its busy refusal (`BUSY_NOTE`),
and supplies its run worker (a service call, then `relay_events`), its `Finished` message, and three hooks:
`show_event`, `outcome` and `fill_form`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.message import Message
from textual.widgets import Select, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen
from llmdeck.tui.widgets.run_history import RunHistory
from llmdeck.tui.widgets.run_trace import RunTrace

if TYPE_CHECKING:
    from llmdeck.agents.events import RunEvent
    from llmdeck.agents.records import RunRecord
    from llmdeck.services.recorded_run import RecordedRun


class RunScreen(BaseScreen):
    """A form that starts one recorded run on a store model and shows its events as they come."""

    RUN_KIND: ClassVar[str]  # "agent", "verify"
    TRACE: ClassVar[type[RunTrace]]  # the widget the run's events go into
    BUSY_NOTE: ClassVar[str]  # the refusal while a run works ("the agent is working: Esc stops it")

    @dataclass
    class Listed(Message):
        """The store's models and its default, read off the UI thread (a screen's subclass adds its own lists)."""

        models: list[str]
        default_model: str | None

    @dataclass
    class Traced(Message):
        """One event of the running run."""

        event: RunEvent

    @dataclass
    class Finished(Message):
        """The run ended (a screen's subclass adds what its outcome says)."""

        run_id: str
        cancelled: bool

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.run_id: str | None = None
        self.run_model: str | None = None  # the model the current run resolved to (the store default's name)
        self.models: set[str] = set()

    def on_screen_resume(self) -> None:
        """The store is read each time the screen is shown (an export on the train screen adds models)."""
        self.list_choices()

    # -- the model picker --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def list_choices(self) -> None:
        from llmdeck.core.store import ModelStore

        store = ModelStore()
        models = [e.name for e in store.list()]
        self.post_message(self.listed(models, store.resolve(None).name if models else None))

    def listed(self, models: list[str], default_model: str | None) -> Listed:
        """The list worker's message (called off the UI thread): a screen that lists more reads it here."""
        return self.Listed(models, default_model)

    @on(Listed)
    def _show_models(self, message: Listed) -> None:
        """Fill the picker, keeping the user's choice while the store still has it, else the store default."""
        picker = self._model_picker()
        chosen = picker.value
        self.models = set(message.models)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in message.models])
            picker.value = chosen if chosen in self.models else (message.default_model or Select.NULL)
        self._status(self._idle_status())

    @on(Select.Changed)
    def _model_changed(self, event: Select.Changed) -> None:
        if event.select.id == f"{self.RUN_KIND}-model" and not self.busy:
            self._status(self._idle_status())

    def action_pick_model(self) -> None:
        self._model_picker().action_show_overlay()

    # -- running -----------------------------------------------------------------------------------
    def refused_while_busy(self, suffix: str = "") -> bool:
        """True, after saying so, while a run works (one run at a time)."""
        if self.busy:
            self.notify(self.BUSY_NOTE + suffix, severity="warning")
        return self.busy

    async def start_run(self, prompt: str) -> str | None:
        """Mark the screen busy and start the trace; returns the picked model (None: the store default)."""
        model = self._model_picker().value
        self.busy = True
        self.run_id = None
        await self.query_one(self.TRACE).start(prompt)
        self._status(f"{self._idle_status()} - starting...")
        return None if model is Select.NULL else str(model)

    def relay_events(self, response: RecordedRun) -> None:
        """In the run worker: post each event until the worker is cancelled, then close the response (a
        cancelled run is recorded as such)."""
        worker = get_current_worker()
        try:
            for event in response:
                if worker.is_cancelled:
                    break
                self.post_message(self.Traced(event))
        finally:
            response.close()

    @on(Traced)
    async def _show_traced(self, message: Traced) -> None:
        if not self.closing:
            await self.show_event(message.event)

    async def show_event(self, event: RunEvent) -> None:
        """Show one event of the run (live, or of a past run reopened) in the trace."""
        raise NotImplementedError

    @on(Finished)
    def _run_finished(self, message: Finished) -> None:
        self.busy = False
        if self.closing:
            return
        if message.cancelled:
            self.query_one(self.TRACE).note("stopped")
        self._status(f"model: {self.run_model} - run {message.run_id}: {self.outcome(message)}")
        self.query_one(RunHistory).reload()

    def outcome(self, message: Finished) -> str:
        """How the run ended, for the status line."""
        raise NotImplementedError

    def action_stop(self) -> None:
        if self.busy:
            self._status("stopping...")
        self.workers.cancel_group(self, self.RUN_KIND)

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == self.RUN_KIND:
            self.busy = False
            self.query_one(self.TRACE).note(f"failed: {error}")
            self._status(f"{self._idle_status()} - the run failed")
            self.query_one(RunHistory).reload()

    async def clear_run(self) -> None:
        """Empty the trace and forget the shown run (a new question or task)."""
        await self.query_one(self.TRACE).remove_children()
        self.run_id = None
        self._status(self._idle_status())

    # -- past runs ---------------------------------------------------------------------------------
    @on(RunHistory.Opened)
    async def _show_run(self, message: RunHistory.Opened) -> None:
        """A past run: its trace again, and the form filled with what it was asked with."""
        if self.refused_while_busy(" first"):
            return
        run = message.run
        trace = self.query_one(self.TRACE)
        await trace.start(run.prompt)
        for event in run.events:
            await self.show_event(event)
        if run.status == "cancelled":
            trace.note("stopped")
        self.run_id = run.id
        if run.model in self.models:
            self._model_picker().value = run.model
        self.fill_form(run)
        self._status(self.query_one(RunHistory).describe(run))

    def fill_form(self, run: RunRecord) -> None:
        """Fill the screen's own fields (all but the model) with a past run's prompt and options."""
        raise NotImplementedError

    def action_focus_runs(self) -> None:
        self.query_one(RunHistory).focus()

    # -- the status line ---------------------------------------------------------------------------
    def _model_picker(self) -> Select:
        return self.query_one(f"#{self.RUN_KIND}-model", Select)

    def _idle_status(self) -> str:
        model = self._model_picker().value
        return f"model: {model if model is not Select.NULL else 'store default'}"

    def _status(self, text: str) -> None:
        self.query_one(f"#{self.RUN_KIND}-status", Static).update(text)
