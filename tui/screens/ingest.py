"""Ingest files into a RAG collection (llmdeck.rag.ingest.ingest) with a progress bar; dismisses with the
collection's name once done. Esc during the ingest (or quitting the app) cancels it at its next file or
batch of chunks: the ingest rolls back what it wrote, so the collection is as it was.
Ctrl+R opens the retrieval evaluation of the collection named (tui/screens/rag_eval.py)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from llmdeck.tui.screens.base import WorkCancelled
from llmdeck.tui.widgets.field_input import FieldInput

if TYPE_CHECKING:
    from pathlib import Path


class IngestScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Close / cancel the ingest"),
        Binding("ctrl+r", "evaluate", "Evaluate the collection's retrieval on a QA file"),
    ]

    @dataclass
    class Progress(Message):
        phase: str
        done: int
        total: int

    @dataclass
    class Done(Message):
        collection: str
        summary: str

    @dataclass
    class Cancelled(Message):
        collection: str

    def __init__(self, collection: str | None = None):
        super().__init__()
        self.collection = collection or ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static("Ingest files into a collection (new or existing)", classes="dialog-title")
            yield Label("Files or folders (space-separated; quote paths with spaces)")
            yield FieldInput(id="ingest-paths", placeholder="~/notes docs/manual.pdf")
            yield Label("Collection (lowercase letters, digits, -)")
            yield FieldInput(self.collection, id="ingest-collection", placeholder="my-docs")
            yield ProgressBar(id="ingest-progress", show_eta=False)
            yield Static("", id="ingest-status", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Ingest", variant="primary", id="ingest-start")
                yield Button("Close (Esc)", id="ingest-close")

    @on(Button.Pressed, "#ingest-start")
    @on(Input.Submitted)
    def start(self) -> None:
        try:
            paths = shlex.split(self.query_one("#ingest-paths", Input).value)
        except ValueError as exc:
            self.notify(f"paths: {exc}", severity="error")
            return
        collection = self.query_one("#ingest-collection", Input).value.strip()
        if not paths or not collection:
            self.notify("name at least one file or folder, and a collection", severity="error")
            return
        self.query_one("#ingest-start", Button).disabled = True
        self.query_one("#ingest-status", Static).update("reading files...")
        self.ingest(paths, collection)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ingest")
    def ingest(self, paths: list[str], collection: str) -> None:
        from llmdeck.rag.ingest import ingest

        worker = get_current_worker()
        inputs: list[str | Path] = list(paths)  # ingest() takes paths or strings

        def on_progress(phase: str, done: int, total: int) -> None:
            if worker.is_cancelled:
                raise WorkCancelled(f"ingest into {collection}")
            self.post_message(self.Progress(phase, done, total))

        try:
            summary = ingest(inputs, collection, on_progress=on_progress)
        except Exception:
            if worker.is_cancelled:  # rolled back by the ingest itself
                self.post_message(self.Cancelled(collection))
                return
            raise
        text = (
            f"{summary.files_changed} files changed, {summary.files_unchanged} unchanged; "
            f"{summary.chunks_added + summary.chunks_updated} chunks embedded in {summary.seconds:.1f}s"
        )
        if summary.skipped_files:
            text += (
                f"; {len(summary.skipped_files)} skipped (first: {summary.skipped_files[0]['path']}: "
                f"{summary.skipped_files[0]['reason']})"
            )
        self.post_message(self.Done(collection, text))

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        self.query_one(ProgressBar).update(total=max(message.total, 1), progress=message.done)
        self.query_one("#ingest-status", Static).update(f"{message.phase} {message.done}/{message.total}")

    @on(Done)
    def finished(self, message: Done) -> None:
        self.notify(message.summary, title=f"ingested into {message.collection}", timeout=8)
        self.dismiss(message.collection)

    @on(Cancelled)
    def cancelled(self, message: Cancelled) -> None:
        self.notify("the collection is as it was", title=f"ingest into {message.collection} cancelled", timeout=8)
        if self.is_attached:
            self.dismiss(None)

    @on(Worker.StateChanged)
    def failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(str(event.worker.error), title="ingest failed", severity="error", timeout=10)
            self.query_one("#ingest-start", Button).disabled = False
            self.query_one("#ingest-status", Static).update(f"failed: {event.worker.error}")

    def action_evaluate(self) -> None:
        from llmdeck.tui.screens.rag_eval import RagEvalScreen

        self.app.push_screen(RagEvalScreen(self.query_one("#ingest-collection", Input).value.strip()))

    @on(Button.Pressed, "#ingest-close")
    def action_cancel(self) -> None:
        if not self.query_one("#ingest-start", Button).disabled:
            self.dismiss(None)
        else:
            self.query_one("#ingest-status", Static).update("cancelling (what was written is rolled back)...")
            self.workers.cancel_group(self, "ingest")
