"""The train screen's export panel: the stages of one export as they pass, a progress bar, and the per-quant
table (size, loss, perplexity, loss delta, registered or why not) when it ends. Shown from an export's start
until ctrl+x closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, ProgressBar, Static

from llmdeck.core.units import human_size
from llmdeck.tui.widgets.tables import fill

EXPORT_COLUMNS = ("quant", "name", "size", "loss", "ppl", "delta", "status")


def export_rows(report) -> list[tuple]:
    """The export's table: the f16 reference, then each quant with its size, loss, perplexity, loss delta."""

    def number(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    rows = [
        (
            "f16 (reference)",
            "-",
            human_size(report.f16_size_bytes),
            number(report.f16_loss, ".4f"),
            number(report.f16_perplexity, ".3f"),
            "-",
            "-",
        )
    ]
    for item in report.quants:
        status = "registered" if item.registered else f"refused ({item.refused})" if item.refused else "not registered"
        rows.append(
            (
                item.quant,
                item.name,
                human_size(item.size_bytes),
                number(item.loss, ".4f"),
                number(item.perplexity, ".3f"),
                number(item.loss_delta, "+.4f"),
                status,
            )
        )
    return rows


class ExportPanel(Vertical):
    """One export at a time: `exporting` is the run being exported (None when none is), `stages` its
    [stage, text, finished] so far."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.exporting: str | None = None
        self.stages: list[list] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="export-title", classes="pane-title", markup=False)
        yield Static("", id="export-stages", markup=False)
        yield ProgressBar(id="export-bar", show_eta=False)
        yield DataTable(id="export-report", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#export-report", DataTable).add_columns(*EXPORT_COLUMNS)

    def start(self, run_id: str, run_name: str, quants: list[str]) -> None:
        self.exporting = run_id
        self.stages = []
        self.add_class("shown")
        self._title(f"Export of {run_name}: {', '.join(quants)} (ctrl+x cancels)")
        self.query_one("#export-stages", Static).update("checking the run...")
        self.query_one("#export-report", DataTable).clear()
        self.query_one("#export-bar", ProgressBar).update(total=None, progress=0)

    def progress(self, stage: str, message: str, done: int | None, total: int | None) -> None:
        bar = self.query_one("#export-bar", ProgressBar)
        if done is None:  # a stage starts: the one before it is done
            for known in self.stages:
                known[2] = True
            self.stages.append([stage, message, False])
            bar.update(total=None, progress=0)
        else:
            if self.stages:
                self.stages[-1][1] = f"{done}/{total or '?'} {message}"
            bar.update(total=total, progress=done)
        self._show_stages()

    def ended(self, run_id: str, report) -> list[str] | None:
        """The export's end (`report` None: it was cancelled); the names of the registered quants."""
        self.exporting = None
        if report is None:
            self._title(f"Export of {run_id} cancelled: nothing was registered")
            return None
        for stage in self.stages:
            stage[2] = True
        check = report.template_check  # one line for the check: its verdict, marked when the renderings differ
        if check:
            verdict = ("" if check["consistent"] else "WARNING: ") + check["summary"].removeprefix("template check: ")
            self.stages = [stage for stage in self.stages if stage[0] != "template check"]
            self.stages.append(["template check", verdict, True])
        self._show_stages(report.stage_seconds)
        self.query_one("#export-bar", ProgressBar).update(total=1, progress=1)
        table = self.query_one("#export-report", DataTable)
        fill(table, EXPORT_COLUMNS, export_rows(report))
        registered = [q.name for q in report.quants if q.registered]
        self._title(f"Exported {run_id}: {', '.join(registered) or 'nothing registered'} (Models, F2; ctrl+x closes)")
        return registered

    def failed(self, error: BaseException | None) -> None:
        self.exporting = None
        self._title(f"Export failed: {error}")

    def cancelling(self) -> None:
        self._title(f"cancelling the export of {self.exporting}...")

    def close_panel(self) -> None:
        self.remove_class("shown")

    def _title(self, text: str) -> None:
        self.query_one("#export-title", Static).update(text)

    def _show_stages(self, seconds: dict | None = None) -> None:
        lines = []
        for stage, text, finished in self.stages:
            took = f" ({seconds[stage]:.1f} s)" if seconds and stage in seconds else ""
            lines.append(f"{'done' if finished else '....'}  {stage}{took}: {text}")
        self.query_one("#export-stages", Static).update("\n".join(lines))
