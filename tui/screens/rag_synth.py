"""Generate a QA file from a collection's own chunks (llmdeck.services.rag_synth), then evaluate with it. Reached
with ctrl+g from the rag eval screen. The synth runs as `llmdeck rag synth --json` in a child process (the app
never decodes in its own process); a worker thread reads its events. Esc stops it, and a stopped synth writes
nothing. Once done, "Evaluate with it" returns the written file to the rag eval screen, which scores it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import WorkCancelled, WorkDialog
from llmdeck.tui.widgets.field_input import FieldInput

DEFAULT_OUT = "synth-qa.jsonl"


class RagSynthScreen(WorkDialog[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Close / stop the synth")]
    WORK_TITLE, START_BUTTON, STATUS = "rag synth", "#rag-synth-start", "#rag-synth-status"

    @dataclass
    class Happened(Message):
        event: Any  # one of services.rag_synth.SYNTH_EVENTS

    def __init__(self, collection: str | None = None, out: str | None = None):
        super().__init__()
        self.collection = collection or ""
        self.out = out or DEFAULT_OUT
        self.synthesis: Any = None
        self.written: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static("Questions from the collection's own chunks (rag synth)", classes="dialog-title")
            yield Label("Collection")
            yield FieldInput(self.collection, id="rag-synth-collection", placeholder="my-docs")
            yield Label("QA file to write (JSON lines for rag eval)")
            yield FieldInput(self.out, id="rag-synth-out", placeholder=DEFAULT_OUT)
            yield Label("Questions (at most), and the model that writes them (empty: the default model)")
            with Horizontal(id="rag-synth-options"):
                yield FieldInput("20", id="rag-synth-limit", type="integer")
                yield FieldInput("", id="rag-synth-model", placeholder="smollm2-135m-instruct")
            yield ProgressBar(id="rag-synth-progress", show_eta=False)
            yield Static("", id="rag-synth-status", markup=False)
            yield DataTable(id="rag-synth-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="buttons"):
                yield Button("Generate", variant="primary", id="rag-synth-start")
                yield Button("Evaluate with it", id="rag-synth-evaluate", disabled=True)
                yield Button("Close (Esc)", id="rag-synth-close")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("", "question", "why dropped")

    @on(Button.Pressed, "#rag-synth-start")
    @on(Input.Submitted)
    def start(self) -> None:
        collection = self.query_one("#rag-synth-collection", Input).value.strip()
        out = self.query_one("#rag-synth-out", Input).value.strip()
        limit = self.query_one("#rag-synth-limit", Input).value.strip()
        model = self.query_one("#rag-synth-model", Input).value.strip() or None
        if not collection or not out or not limit:
            self.notify("name a collection, a QA file and how many questions", severity="error")
            return
        self.written = None
        self.query_one("#rag-synth-start", Button).disabled = True
        self.query_one("#rag-synth-evaluate", Button).disabled = True
        self.query_one(DataTable).clear()
        self.query_one("#rag-synth-status", Static).update("opening the collection and the model...")
        self.synthesize(collection, out, int(limit), model)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rag-synth")
    def synthesize(self, collection: str, out: str, limit: int, model: str | None) -> None:
        from llmdeck.services.rag_synth import synthesize_apart

        worker = get_current_worker()
        self.synthesis = synthesis = synthesize_apart(collection, out, limit=limit, model=model)
        try:
            for event in synthesis:
                if worker.is_cancelled:
                    raise WorkCancelled(f"rag synth of {collection}")
                self.post_message(self.Happened(event))
        finally:
            synthesis.close()

    @on(Happened)
    def show(self, message: Happened) -> None:
        from llmdeck.services.rag_synth import QuestionSynthesized, SynthFinished, SynthStarted

        event = message.event
        status = self.query_one("#rag-synth-status", Static)
        match event:
            case SynthStarted():
                self.query_one(ProgressBar).update(total=event.limit, progress=0)
                status.update(f"{event.collection}: {event.chunks} chunks; writing with {event.model}")
            case QuestionSynthesized():
                self.query_one(ProgressBar).update(progress=event.kept_count)
                mark = "kept" if event.kept else "-"
                self.query_one(DataTable).add_row(mark, event.question or "(none)", event.reason or "")
                status.update(f"{event.kept_count}/{event.limit} kept, {event.tried} chunks tried")
            case SynthFinished():
                self.query_one("#rag-synth-start", Button).disabled = False
                if event.stopped or event.out is None:
                    status.update(f"stopped after {event.tried} chunks: nothing written")
                    return
                dropped = ", ".join(f"{n} {reason}" for reason, n in event.dropped.items() if n) or "none dropped"
                status.update(f"{event.kept} kept of {event.tried} tried ({dropped}); wrote {event.out}")
                self.written = event.out
                self.query_one("#rag-synth-evaluate", Button).disabled = event.kept == 0

    @on(Button.Pressed, "#rag-synth-evaluate")
    def evaluate(self) -> None:
        self.dismiss(self.written)

    @on(Button.Pressed, "#rag-synth-close")
    def action_cancel(self) -> None:
        if self.synthesis is not None:
            self.synthesis.close()
        self.workers.cancel_group(self, "rag-synth")
        self.dismiss(None)
