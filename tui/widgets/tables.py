"""Fill a DataTable in one step with its columns sized to the rows.

A DataTable's auto widths are measured a refresh after rows are added, so a frame (or a snapshot) taken in
between draws the header at the labels' widths over wider rows. Widths given with the columns have no such frame."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def _width(cell: object) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    return max((cell_len(line) for line in str(cell).splitlines()), default=0)


def fill(
    table: DataTable,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    keys: Sequence[str] | None = None,
    column_keys: Sequence[str] | None = None,
) -> None:
    """Replace `table`'s columns and rows; each column is as wide as its widest cell or label. `keys`: the rows'
    keys, `column_keys`: the columns' (for `update_cell` and cursor moves by key)."""
    table.clear(columns=True)
    for index, label in enumerate(columns):
        width = max([cell_len(label), *(_width(row[index]) for row in rows)])
        table.add_column(label, width=width, key=column_keys[index] if column_keys else None)
    for index, row in enumerate(rows):
        table.add_row(*row, key=keys[index] if keys else None)
