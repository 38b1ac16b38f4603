"""The train screen's runs table: one row per run with its live status, redrawn in place as runs progress."""

from __future__ import annotations

from textual.widgets import DataTable

from llmdeck.core.units import duration

RUN_COLUMNS = ("id", "name", "method", "status", "step", "loss", "eta")
RUN_STATUSES = ("queued", "running", "stopped", "completed", "failed")
STATUS_WIDTH = max(map(len, RUN_STATUSES))  # the column fits every status, whichever the first rows had


def run_row(run) -> tuple:
    metrics = run.last_metrics or {}
    loss = metrics.get("loss")
    eta = metrics.get("eta_s") if run.status == "running" else None
    return (
        run.id,
        run.name,
        run.method,
        run.status,
        f"{run.global_step}/{run.max_steps or '?'}",
        f"{loss:.4f}" if isinstance(loss, (int, float)) else "-",
        duration(eta) if eta else "-",
    )


class RunsTable(DataTable):
    """The runs as the registry last listed them (`runs_by_id`); new or removed runs rebuild the rows, keeping
    the cursor on the followed run, otherwise only the cells change."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.run_ids: list[str] = []
        self.runs_by_id: dict = {}
        self._shown_rows: dict[str, tuple] = {}  # run id -> the cells on screen (only changed cells are updated)

    def on_mount(self) -> None:
        for column in RUN_COLUMNS:
            self.add_column(column, key=column, width=STATUS_WIDTH if column == "status" else None)

    def show(self, runs: list, followed: str | None) -> None:
        ids = [run.id for run in runs]
        self.runs_by_id = {run.id: run for run in runs}
        rows = {run.id: run_row(run) for run in runs}
        if ids != self.run_ids:
            self.clear()
            for run_id, row in rows.items():
                self.add_row(*row, key=run_id)
            self.run_ids = ids
            if followed in ids:
                self.move_cursor(row=ids.index(followed), animate=False)
        else:
            for run_id, row in rows.items():
                shown = self._shown_rows.get(run_id, ())
                for index, (column, value) in enumerate(zip(RUN_COLUMNS, row)):
                    if index >= len(shown) or shown[index] != value:
                        self.update_cell(run_id, column, value, update_width=True)
        self._shown_rows = rows

    def highlighted_run(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
