"""Past agent or verify runs (`llmdeck.agents.records`), newest first; Enter opens the highlighted one."""

from __future__ import annotations

import datetime

from textual.widgets import DataTable

COLUMNS = ("started", "status", "steps", "model", "prompt")


def started_text(timestamp: float | None) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M") if timestamp else "-"


class RunHistory(DataTable):
    """A table of recorded runs keyed by run id (DataTable.RowSelected carries the id as its row key)."""

    DEFAULT_CSS = """
    RunHistory { height: 1fr; }
    """

    def __init__(self, steps_label: str = "steps", **kwargs):
        super().__init__(cursor_type="row", **kwargs)
        self.steps_label = steps_label
        self.run_ids: list[str] = []

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(self.steps_label if column == "steps" else column, key=column)

    def show(self, runs: list) -> None:
        ids = [run.id for run in runs]
        keep = self.run_ids[self.cursor_row] if self.run_ids and 0 <= self.cursor_row < len(self.run_ids) else None
        self.clear()
        for run in runs:
            prompt = " ".join(run.prompt.split())
            self.add_row(started_text(run.started_at), run.status, str(run.steps), run.model or "-",
                         prompt[:60] + ("..." if len(prompt) > 60 else ""), key=run.id)
        self.run_ids = ids
        if keep in ids:
            self.move_cursor(row=ids.index(keep), animate=False)
