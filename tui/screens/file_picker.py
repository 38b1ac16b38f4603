"""Pick a file (a GGUF to import, a dataset): a directory tree filtered by suffix, or a typed path."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Static

from llmdeck.tui.widgets.field_input import FieldInput


class FilteredTree(DirectoryTree):
    def __init__(self, path: Path, suffixes: tuple[str, ...], **kwargs):
        super().__init__(path, **kwargs)
        self.suffixes = suffixes

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or not self.suffixes or p.suffix.lower() in self.suffixes)
        ]


class FilePickerScreen(ModalScreen[Path | None]):
    """Enter on a file, or a typed path + Enter, picks it; Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, suffixes: tuple[str, ...] = (), start: Path | None = None, directories: bool = False
    ):
        super().__init__()
        self.title_text, self.suffixes, self.directories = title, suffixes, directories
        self.start = Path(start or Path.cwd()).expanduser()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static(self.title_text, markup=False)
            yield FieldInput(placeholder="type a path and press Enter, or pick below", id="picker-path")
            yield FilteredTree(self.start, self.suffixes, id="picker-tree")

    @on(DirectoryTree.FileSelected)
    def picked_file(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(Path(event.path))

    @on(DirectoryTree.DirectorySelected)
    def picked_directory(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#picker-path", Input).value = str(event.path)

    @on(Input.Submitted, "#picker-path")
    def typed(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if not event.value.strip() or not path.exists():
            self.notify(f"{path}: no such file or directory", severity="error")
            return
        if path.is_dir() and not self.directories:
            self.query_one(FilteredTree).path = path
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
