"""Score a collection's retrieval on a QA file (llmdeck.services.rag_eval): recall@1, recall@5 and MRR@10 per
retrieval mode side by side, then the misses. Reached with ctrl+r from the ingest dialog; ctrl+g here generates a QA
file from the collection's own chunks (tui/screens/rag_synth.py) and scores it. The scoring (embedding
model, hundreds of searches) runs in a worker thread; Esc cancels it at its next search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import WorkCancelled, WorkDialog
from llmdeck.tui.widgets.field_input import FieldInput
from llmdeck.tui.widgets.tables import fill

COLUMNS = ("mode", "recall@1", "recall@5", "MRR@10")


def _interval(metric: Any) -> str:
    if metric.value is None:
        return "-"
    if metric.low is None or metric.high is None:
        return f"{metric.value:.3f}"
    return f"{metric.value:.3f} [{metric.low:.2f}, {metric.high:.2f}]"


class RagEvalScreen(WorkDialog[None]):
    BINDINGS = [
        Binding("escape", "cancel", "Close / cancel the evaluation"),
        Binding("ctrl+g", "synthesize", "Generate a QA file from the collection's chunks (rag synth)"),
    ]
    WORK_TITLE, START_BUTTON, STATUS = "rag eval", "#rag-eval-start", "#rag-eval-status"

    @dataclass
    class Progress(Message):
        done: int
        total: int

    @dataclass
    class Done(Message):
        report: Any  # services.rag_eval.RagEvalReport

    def __init__(self, collection: str | None = None, qa_file: str | None = None):
        super().__init__()
        self.collection = collection or ""
        self.qa_file = qa_file or ""
        self.report: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static("Evaluate retrieval: dense vs bm25 vs hybrid", classes="dialog-title")
            yield Label('QA file (JSON lines: {"question": ..., "sources": ["file.md"]} and/or "answer")')
            yield FieldInput(self.qa_file, id="rag-eval-qa", placeholder="questions.jsonl")
            yield Label("Collection")
            yield FieldInput(self.collection, id="rag-eval-collection", placeholder="my-docs")
            yield ProgressBar(id="rag-eval-progress", show_eta=False)
            yield Static("", id="rag-eval-status", markup=False)
            yield DataTable(id="rag-eval-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="rag-eval-misses-scroll"):
                yield Static("", id="rag-eval-misses", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Evaluate", variant="primary", id="rag-eval-start")
                yield Button("Close (Esc)", id="rag-eval-close")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)

    @on(Button.Pressed, "#rag-eval-start")
    @on(Input.Submitted)
    def start(self) -> None:
        qa_file = self.query_one("#rag-eval-qa", Input).value.strip()
        collection = self.query_one("#rag-eval-collection", Input).value.strip()
        if not qa_file or not collection:
            self.notify("name a QA file and a collection", severity="error")
            return
        self.query_one("#rag-eval-start", Button).disabled = True
        self.query_one("#rag-eval-status", Static).update("opening the collection...")
        self.evaluate(collection, qa_file)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rag-eval")
    def evaluate(self, collection: str, qa_file: str) -> None:
        from llmdeck.services.rag_eval import evaluate

        worker = get_current_worker()

        def on_progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise WorkCancelled(f"evaluating {collection}")
            self.post_message(self.Progress(done, total))

        report = evaluate(collection, qa_file, on_progress=on_progress, progress=False)
        self.post_message(self.Done(report))

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        self.query_one(ProgressBar).update(total=max(message.total, 1), progress=message.done)
        self.query_one("#rag-eval-status", Static).update(f"searches {message.done}/{message.total}")

    @on(Done)
    def finished(self, message: Done) -> None:
        from llmdeck.services.rag_eval import format_report

        self.report = report = message.report
        table = self.query_one(DataTable)
        rows = [
            (result.mode, _interval(result.recall_1), _interval(result.recall_5), _interval(result.mrr_10))
            for result in report.results
        ]
        fill(table, COLUMNS, rows)
        self.query_one("#rag-eval-status", Static).update(
            f"{report.collection}: {len(report.questions)} questions, 95% intervals"
        )
        misses = format_report(report).split("\n\n", 1)
        self.query_one("#rag-eval-misses", Static).update(misses[1] if len(misses) > 1 else "no misses in the top 5")
        self.query_one("#rag-eval-start", Button).disabled = False

    def action_synthesize(self) -> None:
        """Open rag synth for the collection named; the file it writes comes back here and is scored."""
        from llmdeck.tui.screens.rag_synth import RagSynthScreen

        collection = self.query_one("#rag-eval-collection", Input).value.strip()
        self.app.push_screen(RagSynthScreen(collection), self.synthesized)

    def synthesized(self, qa_file: str | None) -> None:
        if qa_file:
            self.query_one("#rag-eval-qa", Input).value = qa_file
            self.start()

    @on(Button.Pressed, "#rag-eval-close")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "rag-eval")
        self.dismiss(None)
