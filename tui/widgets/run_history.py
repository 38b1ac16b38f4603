"""Past agent or verify runs (`llmdeck.agents.records`), newest first; Enter opens the highlighted one.

The table reads the records itself, off the UI thread, in workers it runs on its screen (so a failure is
the screen's notification), and posts `RunHistory.Opened` with the whole run when one is chosen."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual import on
from textual.message import Message
from textual.widgets import DataTable

from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.agents.records import RunRecord

COLUMNS = ("started", "status", "steps", "model", "prompt")


def started_text(timestamp: float | None) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M") if timestamp else "-"


class RunHistory(DataTable):
    """A table of recorded runs of one kind keyed by run id (DataTable.RowSelected carries the id as its row key)."""

    DEFAULT_CSS = """
    RunHistory { height: 1fr; }
    """

    @dataclass
    class Listed(Message, bubble=False):
        runs: list[RunRecord]  # without their events

    @dataclass
    class Opened(Message):
        """A run was chosen (Enter) and read with its events, for the screen to show."""

        run: RunRecord

    def __init__(self, kind: str, steps_label: str = "steps", **kwargs):
        super().__init__(cursor_type="row", **kwargs)
        self.kind = kind  # agents.records' run kind: "agent" or "verify"
        self.steps_label = steps_label
        self.run_ids: list[str] = []

    def on_mount(self) -> None:
        for label, column in zip(self.labels(), COLUMNS):
            self.add_column(label, key=column)
        self.reload()

    def labels(self) -> list[str]:
        """The column headings (the steps column named for the run kind)."""
        return [self.steps_label if column == "steps" else column for column in COLUMNS]

    def reload(self) -> None:
        """Read the runs again (a run started or ended)."""
        self.screen.run_worker(self._list_runs, thread=True, exclusive=True, exit_on_error=False, group="runs")

    def _list_runs(self) -> None:
        from llmdeck.agents.records import list_runs

        self.post_message(self.Listed(list_runs(self.kind)))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        self.show(message.runs)

    def show(self, runs: list) -> None:
        ids = [run.id for run in runs]
        keep = self.run_ids[self.cursor_row] if self.run_ids and 0 <= self.cursor_row < len(self.run_ids) else None
        rows = []
        for run in runs:
            prompt = " ".join(run.prompt.split())
            rows.append(
                (
                    started_text(run.started_at),
                    run.status,
                    str(run.steps),
                    run.model or "-",
                    prompt[:60] + ("..." if len(prompt) > 60 else ""),
                )
            )
        fill(self, self.labels(), rows, keys=ids, column_keys=COLUMNS)
        self.run_ids = ids
        if keep in ids:
            self.move_cursor(row=ids.index(keep), animate=False)

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.screen.run_worker(
                partial(self._load_run, event.row_key.value),
                thread=True,
                exclusive=True,
                exit_on_error=False,
                group="open run",
            )

    def _load_run(self, run_id: str) -> None:
        from llmdeck.agents.records import get_run

        self.post_message(self.Opened(get_run(run_id, self.kind)))

    def describe(self, run) -> str:
        """A reopened run's status line."""
        seconds = f", {run.seconds:.1f} s" if run.seconds else ""
        return (
            f"run {run.id} ({run.status}, {run.steps} {self.steps_label}{seconds}) by {run.model}: ctrl+r runs it again"
        )
